#!/usr/bin/env node
// Guest instructions per token under qemu, per target, model and kernel: deterministic, unlike
// time under an emulator. Builds a qemu TCG plugin (bench/plugins/count.c) with the host gcc,
// runs each engine twice (-n 6 and -n 12, one thread, env -i) and divides the difference by
// 6 tokens, so loading is left out. Also prints the weight bytes a token touches and what the profile's
// cycles-per-instruction figure makes of the count on the real machine (an estimate).
// Usage: npm run bench:instructions   (needs the cross compilers and qemu-user)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m) => join(repo, 'dist', m);
const { shapeConfig, syntheticTokenizer, writeSyntheticV0 } = await import(dist('model/synthetic.js'));
const { runBuild } = await import(dist('core/build.js'));
const { engineArgs } = await import(dist('codegen/engine-args.js'));
const { runPlan } = await import(dist('core/plan.js'));
const { planNative } = await import(dist('model/native.js'));
const { macsPerToken } = await import(dist('plan/memory.js'));
const { openModel } = await import(dist('model/open.js'));
const { readTokenizer } = await import(dist('model/tokenizer.js'));

const dir = process.env.RETRO_BENCH_DIR ?? join(tmpdir(), 'retro-bench');
mkdirSync(dir, { recursive: true });
const plugin = join(dir, 'libcount.so');
execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-o', plugin, join(repo, 'bench/plugins/count.c')]);

const models = process.env.RETRO_MODELS ?? join(repo, '../shared/models');
const m15 = join(dir, '15M.bin');
const tok32k = join(dir, 'tok32000.bin');
if (!existsSync(m15)) writeSyntheticV0(m15, { config: shapeConfig('15M'), sharedClassifier: true, seed: 1 });
if (!existsSync(tok32k)) writeFileSync(tok32k, syntheticTokenizer(32000));
const MODELS = [
  { name: 'stories260K', model: join(models, 'stories260K.bin'), tok: join(models, 'tok512.bin') },
  { name: '15M shape', model: m15, tok: tok32k },
];
// The build each target is measured with: the emulated stand-in for the real machine.
// RETRO_BENCH_TARGETS=win98-pentium2 (comma-separated) measures only those.
const ONLY = process.env.RETRO_BENCH_TARGETS?.split(',');
const ALL_TARGETS = [
  { id: 'powerbook-g4', build: 'linux-ppc-g4' },
  { id: 'xbox360-xenon', build: 'linux-ppc32-cell' },
  { id: 'win98-pentium2', build: 'linux-i686-p2' },
];
const TARGETS = ALL_TARGETS.filter((t) => !ONLY || ONLY.includes(t.id));
const VARIANTS = [
  { label: 'f32 scalar', quant: 'f32', kernel: 'scalar' },
  { label: 'f32 SIMD', quant: 'f32', kernel: 'simd' },
  { label: 'q8 scalar', quant: 'q8', kernel: 'scalar' },
  { label: 'q8 SIMD', quant: 'q8', kernel: 'simd' },
  { label: 'q4', quant: 'q4', kernel: 'simd' },
];

function count(emulator, args, binary, steps, cwd, kernel) {
  const out = join(dir, 'count.txt');
  const r = spawnSync('env', ['-i', emulator, ...args, '-plugin', `${plugin},arg=out=${out}`, binary, ...engineArgs({ model: 'model.rtr', temperature: 0, steps, prompt: Buffer.from('Once upon a time'), kernel, threads: 1 })], { cwd, encoding: 'latin1' });
  if (r.status !== 0) throw new Error(`${binary}: ${r.stderr}`);
  return Number(readFileSync(out, 'utf8').trim());
}

const results = [];
for (const t of TARGETS) {
  for (const m of MODELS) {
    const src = openModel(m.model);
    const vocab = readTokenizer(m.tok, src.config.vocabSize);
    for (const v of VARIANTS) {
      const b = await runBuild({ target: t.id, model: m.model, tokenizer: m.tok, quant: v.quant, groupSize: 32, out: join(dir, `ins-${t.id}-${m.name.replace(/\W/g, '')}-${v.quant}`), compile: true });
      const cross = b.profile.cross.find((c) => c.id === t.build);
      const binary = join(b.out, cross.output);
      const perToken = (count(cross.run.emulator, cross.run.args, binary, 12, b.out, v.kernel) - count(cross.run.emulator, cross.run.args, binary, 6, b.out, v.kernel)) / 6;
      const layout = planNative(src.config, vocab, v.quant, 32, b.profile.alignment, src.sharedClassifier, m.model);
      const macs = macsPerToken(layout);
      const plan = runPlan({ target: t.id, model: m.model, tokenizer: m.tok, quant: v.quant, groupSize: 32, ramBudgetMb: 1e6 });
      const bytes = plan.options.find((o) => o.mode === 'ram').memory.weightBytesPerToken;
      const p = b.profile;
      const tps = (p.cpu.clockMhz * 1e6) / (perToken * (p.estimate?.cyclesPerInstruction ?? NaN));
      results.push({ target: t.id, model: m.name, variant: v.label, perToken, perMac: perToken / macs, bytes, tps });
      console.error(`${t.id} ${m.name} ${v.label}: ${(perToken / 1e6).toFixed(2)} M instructions per token`);
    }
    src.close();
  }
}

console.log(`Machine: ${cpus().length} x ${cpus()[0]?.model}, Node ${process.version}; qemu-user 7.2 (${TARGETS.map((t) => t.build).join(', ')})\n`);
console.log('| target | model | kernel | guest instructions per token | per multiply-add | weight bytes per token | estimated tok/s on the machine |');
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(`| ${r.target} | ${r.model} | ${r.variant} | ${(r.perToken / 1e6).toFixed(2)} M | ${r.perMac.toFixed(2)} | ${(r.bytes / 1048576).toFixed(2)} MB | ${r.tps.toPrecision(3)} |`);
}
writeFileSync(join(dir, 'instructions.json'), JSON.stringify(results, null, 2));
