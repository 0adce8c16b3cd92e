#!/usr/bin/env node
// retro benchmarks: reference tok/s (15M and 110M shapes), conversion MB/s and peak memory
// (110M shape), host C build tok/s vs the TS reference, streaming vs in-RAM (110M shape). Prints a Markdown table.
// Usage: npm run bench   (models are generated into $RETRO_BENCH_DIR or the OS temp dir, not committed)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m) => join(repo, 'dist', m);
const { shapeConfig, syntheticTokenizer, writeSyntheticV0 } = await import(dist('model/synthetic.js'));
const { runGenerate } = await import(dist('core/generate.js'));
const { loadProfile } = await import(dist('profile/load.js'));
// The host build's flags, as the profile gives them (chosen by npm run bench:host).
const hostFlags = loadProfile('host').cross[0].flags.join(' ');

const dir = process.env.RETRO_BENCH_DIR ?? join(tmpdir(), 'retro-bench');
mkdirSync(dir, { recursive: true });
const rows = [];

function model(shape) {
  const path = join(dir, `${shape}.bin`);
  if (!existsSync(path)) writeSyntheticV0(path, { config: shapeConfig(shape), sharedClassifier: true, seed: 1 });
  const tok = join(dir, 'tok32000.bin');
  if (!existsSync(tok)) writeFileSync(tok, syntheticTokenizer(32000));
  return { path, tok };
}

function reference(shape, steps) {
  const { path, tok } = model(shape);
  let tps = 0;
  runGenerate(
    { model: path, tokenizer: tok, temperature: 0, topp: 0.9, steps, prompt: Buffer.from('Once upon a time') },
    { stdout: () => {}, stderr: (t) => (tps = Number(/achieved tok\/s: ([\d.]+)/.exec(t)?.[1] ?? 0)) },
  );
  return tps;
}

const runc = process.env.RETRO_RUNC;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const tokps = (r) => Number(/achieved tok\/s: ([\d.]+)/.exec(r)?.[1] ?? 0);
// `node bench/run.mjs anchor`: only the comparison with llama2.c's run below.
const only = process.argv[2];

const t15 = only === 'anchor' ? 0 : reference('15M', 64);
if (only !== 'anchor') rows.push(['TS reference, 15M shape (dim 288, 6 layers, vocab 32000), greedy, 64 steps', `${t15.toFixed(1)} tok/s`]);

// The anchor: llama2.c's run, built by you (RETRO_RUNC=/path/to/run; RETRO_RUNC_FLAGS names the
// flags you used, default -O3); retro never builds it.
// Five interleaved runs each of run, the TS reference and the host C build, medians compared.
async function anchorRows() {
  const m = model('15M');
  const { runBuild } = await import(dist('core/build.js'));
  const { engineArgs } = await import(dist('codegen/engine-args.js'));
  const b = await runBuild({ target: 'host', model: m.path, tokenizer: m.tok, quant: 'f32', groupSize: 32, out: join(dir, 'host15-anchor'), compile: true });
  const args = (model) => engineArgs({ model, temperature: 0, steps: 64, prompt: Buffer.from('Once upon a time') });
  const c = { run: [], ts: [], host: [] };
  for (let i = 0; i < 5; i++) {
    c.run.push(tokps(spawnSync(runc, [...args(m.path).slice(0, 1), '-z', m.tok, ...args(m.path).slice(1)], { encoding: 'utf8' }).stderr));
    c.ts.push(reference('15M', 64));
    c.host.push(tokps(spawnSync(join(b.out, 'retro'), [...args('model.rtr'), '-j', '1'], { cwd: b.out, encoding: 'utf8' }).stderr));
  }
  const r = median(c.run);
  rows.push([`anchor: llama2.c run (gcc ${process.env.RETRO_RUNC_FLAGS ?? '-O3'}), 15M shape, 64 steps, median of 5 interleaved`, `${r.toFixed(1)} tok/s`]);
  rows.push(['TS reference, same runs', `${median(c.ts).toFixed(1)} tok/s = ${(median(c.ts) / r).toFixed(2)}x run`]);
  rows.push([`host C build (gcc ${hostFlags}, scalar kernel, one thread), same runs`, `${median(c.host).toFixed(1)} tok/s = ${(median(c.host) / r).toFixed(2)}x run`]);
}
if (runc) await anchorRows();
if (only === 'anchor') {
  console.log('| benchmark | result |\n| --- | --- |');
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  process.exit(0);
}
const t110 = reference('110M', 12);
rows.push(['TS reference, 110M shape (dim 768, 12 layers, vocab 32000), greedy, 12 steps', `${t110.toFixed(2)} tok/s`]);

// Conversion in a child process so its peak RSS is the conversion's own.
const m110 = model('110M');
for (const quant of ['f32', 'q8']) {
  const out = join(dir, `conv-${quant}`);
  const script = `
    const { runBuild } = await import(${JSON.stringify(dist('core/build.js'))});
    const t = performance.now();
    const r = await runBuild({ target: 'powerbook-g4', model: ${JSON.stringify(m110.path)}, tokenizer: ${JSON.stringify(m110.tok)}, quant: '${quant}', groupSize: 32, out: ${JSON.stringify(out)}, compile: false });
    console.log(JSON.stringify({ s: (performance.now() - t) / 1000, rss: process.resourceUsage().maxRSS, bytes: r.model.nativeBytes }));`;
  const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split('\n').pop());
  const mb = statSync(m110.path).size / 1048576;
  rows.push([`convert 110M shape (${mb.toFixed(0)} MB) -> powerbook-g4 ${quant} (${(res.bytes / 1048576).toFixed(0)} MB, big-endian)`, `${(mb / res.s).toFixed(0)} MB/s, peak RSS ${(res.rss / 1024).toFixed(0)} MB`]);
}

// Host C build on the 15M shape, compared with the reference in this same run.
const m15 = model('15M');
const { runBuild } = await import(dist('core/build.js'));
const { engineArgs } = await import(dist('codegen/engine-args.js'));
const prompt = Buffer.from('Once upon a time');
const host = await runBuild({ target: 'host', model: m15.path, tokenizer: m15.tok, quant: 'f32', groupSize: 32, out: join(dir, 'host15'), compile: true });
const hostQ8 = await runBuild({ target: 'host', model: m15.path, tokenizer: m15.tok, quant: 'q8', groupSize: 32, out: join(dir, 'host15q8'), compile: true });
for (const [label, b] of [['f32', host], ['q8', hostQ8]]) {
  const r = spawnSync(join(b.out, 'retro'), engineArgs({ model: 'model.rtr', temperature: 0, steps: 64, prompt }), { cwd: b.out, encoding: 'utf8' }).stderr;
  rows.push([`host C build (gcc ${hostFlags}, scalar kernel, default threads), 15M shape ${label}, 64 steps`, `${Number(/achieved tok\/s: ([\d.]+)/.exec(r)?.[1] ?? 0).toFixed(1)} tok/s`]);
}

// Streaming vs in RAM on the 110M shape: the same host binary, in RAM, every layer streamed (-S 1),
// and streamed by a budget that keeps the first layers resident.
for (const quant of ['f32', 'q8']) {
  const b = await runBuild({ target: 'host', model: m110.path, tokenizer: m110.tok, quant, groupSize: 32, out: join(dir, `host110${quant}`), compile: true });
  const run = (extra) => {
    const r = spawnSync('/usr/bin/time', ['-v', join(b.out, 'retro'), ...engineArgs({ model: 'model.rtr', temperature: 0, steps: 24, prompt, extra: [...extra, '-v', '1'] })], { cwd: b.out, encoding: 'utf8' }).stderr;
    const num = (re) => Number(re.exec(r)?.[1] ?? 0);
    return { tps: num(/achieved tok\/s: ([\d.]+)/), read: num(/read (\d+) bytes per token/), rss: num(/Maximum resident set size \(kbytes\): (\d+)/), resident: num(/(\d+) of \d+ layers resident/) };
  };
  const ram = run(['-B', '0']);
  const all = run(['-S', '1', '-B', '128']);
  const budget = quant === 'f32' ? '256' : '128';
  const part = run(['-B', budget]);
  rows.push([`host C build, 110M shape ${quant}, 24 steps: in RAM`, `${ram.tps.toFixed(1)} tok/s, peak RSS ${(ram.rss / 1024).toFixed(0)} MB`]);
  rows.push([`host C build, 110M shape ${quant}, 24 steps: every layer streamed (-S 1), 128 MB budget (file in page cache)`, `${all.tps.toFixed(1)} tok/s, peak RSS ${(all.rss / 1024).toFixed(0)} MB, ${(all.read / 1048576).toFixed(1)} MB read per token`]);
  rows.push([`host C build, 110M shape ${quant}, 24 steps: streamed by a ${budget} MB budget, ${part.resident} of 12 layers resident`, `${part.tps.toFixed(1)} tok/s (${(part.tps / all.tps).toFixed(2)}x all-streamed), peak RSS ${(part.rss / 1024).toFixed(0)} MB, ${(part.read / 1048576).toFixed(1)} MB read per token (${(part.read / all.read).toFixed(2)}x)`]);
}

// Threads on the host: the same 110M f32 binary with one thread and with two.
{
  const b = join(dir, 'host110f32');
  for (const j of ['1', '2']) {
    const r = spawnSync(join(b, 'retro'), engineArgs({ model: 'model.rtr', temperature: 0, steps: 16, prompt, threads: Number(j) }), { cwd: b, encoding: 'utf8' }).stderr;
    rows.push([`host C build, 110M shape f32, 16 steps, -j ${j}`, `${Number(/achieved tok\/s: ([\d.]+)/.exec(r)?.[1] ?? 0).toFixed(1)} tok/s`]);
  }
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Machine: ${cpus().length} x ${cpu}, Node ${process.version}\n`);
console.log('| benchmark | result |\n| --- | --- |');
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
