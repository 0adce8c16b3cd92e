/**
 * Conversion of a 1B-shaped Q4_K_M GGUF (TinyLlama-1.1B's shape: dim 2048, hidden 5632, 22 layers,
 * 32/4 heads, vocab 32000, seeded random weights, quantized by llama.cpp's own llama_model_quantize)
 * to powerbook-g4 q4 and q8: source MB/s and the converting process's peak RSS, beside the file size.
 * Prints a Markdown table. Usage: npm run bench:gguf   (needs node-llama-cpp and gcc; ~3 GB of temp disk)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { model, REPO } from '../test/helpers/fixtures.js';
import { llamaGguf, vocabKvs } from '../test/helpers/gguf-writer.js';
import { FTYPE, llamaQuantize } from '../test/helpers/llama-oracle.js';

const MB = 1048576;
const SHAPE = { dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, vocabSize: 32000, headSize: 64, contextLength: 2048 };

it('1B-shaped Q4_K_M GGUF -> powerbook-g4 q4 and q8', () => {
  const dir = process.env.RETRO_BENCH_DIR ?? join(tmpdir(), 'retro-bench');
  mkdirSync(dir, { recursive: true });
  const q4km = join(dir, 'tinyllama-shape-q4_k_m.gguf');
  if (!existsSync(q4km)) {
    const f16 = join(dir, 'tinyllama-shape-f16.gguf');
    llamaGguf(f16, SHAPE, { vocab: vocabKvs(model('gguf/l2-q8_0.gguf')), f16: true, seed: 7 });
    llamaQuantize(f16, q4km, FTYPE.Q4_K_M, false);
    rmSync(f16);
  }
  const srcMb = statSync(q4km).size / MB;
  const rows: string[][] = [];
  // the anchor, same run: reading the source once, 64 MB at a time (the file is in the page cache after the first pass)
  const readScript = `
    const { openSync, readSync, closeSync } = await import('node:fs');
    const fd = openSync(${JSON.stringify(q4km)}, 'r');
    const buf = Buffer.alloc(64 << 20);
    for (let pass = 0; pass < 2; pass++) {
      const t = performance.now();
      let at = 0, n;
      while ((n = readSync(fd, buf, 0, buf.length, at)) > 0) at += n;
      if (pass === 1) console.log((performance.now() - t) / 1000);
    }
    closeSync(fd);`;
  const readS = Number(execFileSync(process.execPath, ['--input-type=module', '-e', readScript], { encoding: 'utf8' }).trim());
  rows.push([`anchor: read the ${srcMb.toFixed(0)} MB source file (page cache)`, `${(srcMb / readS).toFixed(0)} MB/s`]);
  for (const quant of ['q4', 'q8']) {
    const out = join(dir, `gguf-conv-${quant}`);
    // in a child process so its peak RSS is the conversion's own
    const script = `
      const { runBuild } = await import(${JSON.stringify(join(REPO, 'dist/core/build.js'))});
      const t = performance.now();
      const r = await runBuild({ target: 'powerbook-g4', model: ${JSON.stringify(q4km)}, quant: '${quant}', groupSize: 32, out: ${JSON.stringify(out)}, compile: false });
      console.log(JSON.stringify({ s: (performance.now() - t) / 1000, rss: process.resourceUsage().maxRSS, bytes: r.model.nativeBytes }));`;
    const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split('\n').pop()!);
    rows.push([
      `convert 1B-shaped Q4_K_M GGUF (${srcMb.toFixed(0)} MB) -> powerbook-g4 ${quant} (${(res.bytes / MB).toFixed(0)} MB)`,
      `${(srcMb / res.s).toFixed(1)} MB/s (${res.s.toFixed(0)} s, ${(readS / res.s).toFixed(4)}x the anchor), peak RSS ${(res.rss / 1024).toFixed(0)} MB`,
    ]);
    rmSync(out, { recursive: true, force: true });
  }
  console.log(['| benchmark | result |', '| --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n'));
}, 3_600_000);
