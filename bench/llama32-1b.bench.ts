/**
 * The Must-show of issue 13: a Llama-3.2-1B-shaped synthetic model (dim 2048, hidden 8192, 16
 * layers, 32/8 heads, vocab 128256 with the real Llama 3 byte-level BPE vocabulary, tied output,
 * RoPE theta 500000 with llama3 frequency scaling, context 131072; seeded random F16 weights, a
 * 2.5 GB GGUF whose tensor data crosses 2^31 bytes) built for win98-pentium2 with `--auto`.
 * Measures the conversion's time and peak RSS (a child process), then runs the bundle's own
 * Pentium II binary (linux-i686-p2: x87 and MMX, natively on this x86 host) under the 86 MB
 * budget and checks its text against the TypeScript reference on the same model.rtr; then the Win32
 * .exe under wine.
 * Prints a Markdown table. Usage: npm run bench:llama32   (~4 GB of temp disk, ~6 GB of RAM for the reference)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { llama3RopeFactors } from '../src/model/safetensors.js';
import { loadProfile } from '../src/profile/load.js';
import { runBinary } from '../src/toolchain/tools.js';
import { wineEnv } from '../test/helpers/e2e.js';
import { model, REPO } from '../test/helpers/fixtures.js';
import { byteLevelVocabKvs, f32Tensor, llamaGguf } from '../test/helpers/gguf-writer.js';

const MB = 1048576;
const SHAPE = { dim: 2048, hiddenDim: 8192, nLayers: 16, nHeads: 32, nKvHeads: 8, vocabSize: 128256, headSize: 64, contextLength: 131072 };
const PROMPT = 'Once upon a time';
const STEPS = 8;

it('Llama-3.2-1B shape -> win98-pentium2 --auto: conversion peak RSS, the Pentium II binaries streaming under 86 MB, their text equal to the reference', async () => {
  const dir = process.env.RETRO_BENCH_DIR ?? join(tmpdir(), 'retro-bench');
  mkdirSync(dir, { recursive: true });
  const gguf = join(dir, 'llama32-1b-shape-f16.gguf');
  const rows: string[][] = [];
  if (!existsSync(gguf)) {
    const t = performance.now();
    const factors = llama3RopeFactors(64, 500000, { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 }, gguf);
    llamaGguf(gguf, SHAPE, {
      vocab: byteLevelVocabKvs(model('gguf/l3t-q4_k_m.gguf')),
      tied: true,
      f16: true,
      seed: 11,
      kvs: [['llama.rope.freq_base', 'f32', 500000]],
      tensors: [f32Tensor('rope_freqs.weight', 1, 32, factors)],
    });
    rows.push([`write the fixture (${(statSync(gguf).size / MB).toFixed(0)} MB F16 GGUF, streamed tensor by tensor)`, `${((performance.now() - t) / 1000).toFixed(0)} s`]);
  }
  const srcMb = statSync(gguf).size / MB;
  expect(srcMb * MB).toBeGreaterThan(2 ** 31);

  const out = join(dir, 'llama32-w98');
  // in a child process so its peak RSS is the conversion's own
  const script = `
    const { runBuild } = await import(${JSON.stringify(join(REPO, 'dist/core/build.js'))});
    const t = performance.now();
    const log = [];
    const r = await runBuild({ target: 'win98-pentium2', model: ${JSON.stringify(gguf)}, quant: 'f32', groupSize: 32, auto: true, out: ${JSON.stringify(out)}, compile: true, force: true }, (m) => log.push(m));
    console.log(JSON.stringify({ s: (performance.now() - t) / 1000, rss: process.resourceUsage().maxRSS, bytes: r.model.nativeBytes, quant: r.model.quant, auto: log.find((m) => m.startsWith('--auto')), binaries: r.binaries.map((b) => b.status) }));`;
  const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n').pop()!);
  expect(res.binaries).toEqual(['built', 'built']);
  rows.push([`retro build --target win98-pentium2 --auto (${srcMb.toFixed(0)} MB source)`, `${res.auto}`]);
  rows.push([`conversion + C build -> ${res.quant} model.rtr (${(res.bytes / MB).toFixed(0)} MB)`, `${res.s.toFixed(0)} s, ${(srcMb / res.s).toFixed(1)} MB/s, peak RSS ${(res.rss / 1024).toFixed(0)} MB`]);

  // the bundle's Pentium II ELF, run natively, with the budget baked in (86 MB): it streams
  const time = spawnSync('/usr/bin/time', ['-v', join(out, 'retro.elf'), 'model.rtr', '-t', '0', '-n', String(STEPS), '-i', PROMPT, '-v', '1'], { cwd: out, maxBuffer: 1 << 26 });
  const err = time.stderr.toString();
  expect(time.status, err).toBe(0);
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)![1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(err)![1];
  expect(err).toMatch(/memory: streaming/);
  expect(rssKb).toBeLessThan(86 * 1024);
  rows.push([`retro.elf (Pentium II build: x87, MMX) on the host, ${STEPS} positions, streaming`, `peak RSS ${(rssKb / 1024).toFixed(1)} MB (budget 86 MB), wall ${wall}; ${(/memory: [^\n]*/.exec(err) ?? [''])[0]}`]);

  // the reference on the same model.rtr, in a child process (it holds the whole model)
  const refScript = `
    const { runGenerate } = await import(${JSON.stringify(join(REPO, 'dist/core/generate.js'))});
    const chunks = [];
    runGenerate({ model: ${JSON.stringify(join(out, 'model.rtr'))}, temperature: 0, topp: 0.9, steps: ${STEPS}, prompt: Buffer.from(${JSON.stringify(PROMPT)}) }, { stdout: (b) => chunks.push(Buffer.from(b)), stderr: () => {} });
    process.stdout.write(Buffer.concat(chunks).toString('base64'));`;
  const ref = Buffer.from(execFileSync(process.execPath, ['--max-old-space-size=8192', '--input-type=module', '-e', refScript], { encoding: 'utf8', maxBuffer: 1 << 26 }), 'base64');
  expect(time.stdout.toString('latin1')).toBe(ref.toString('latin1'));
  rows.push(['its text against the TypeScript reference on the same model.rtr', `identical (${JSON.stringify(ref.toString('utf8'))})`]);

  // the Win32 .exe that goes to the machine, under wine (x86 code runs natively; stdout is binary, as on the machine)
  const w98 = loadProfile('win98-pentium2').cross.find((b) => b.output === 'retro.exe')!;
  const t = performance.now();
  const exe = await runBinary(w98, join(out, 'retro.exe'), ['model.rtr', '-t', '0', '-n', String(STEPS), '-i', PROMPT, '-v', '1'], { cwd: out, env: { ...w98.run!.env, ...wineEnv() }, timeoutMs: 1_800_000 });
  expect(exe.exitCode, exe.stderr).toBe(0);
  expect(exe.stderr).toMatch(/memory: streaming/);
  expect(exe.stdout.toString('latin1')).toBe(ref.toString('latin1'));
  rows.push([`retro.exe (the Win32 build that goes to the machine) under wine, ${STEPS} positions, streaming`, `the same text, ${((performance.now() - t) / 1000).toFixed(1)} s wall`]);
  console.log(['| Llama-3.2-1B shape | result |', '| --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n'));
  if (!process.env.RETRO_BENCH_KEEP) rmSync(out, { recursive: true, force: true });
}, 7_200_000);
