/**
 * The host's speed, like for like: retro's host engine per quantization kind at gcc -O2 and -O3
 * (which flags the host profile builds with), one thread and two, against llama2.c's run (f32) and
 * runq (q8) on the same 15M-shape model, wall clock against wall clock (each program's own
 * "achieved tok/s", both now wall-clock) and CPU time against CPU time (/usr/bin/time's user +
 * system seconds for the whole run, loading included, same work). Rounds are interleaved and
 * medians reported; the cycles per multiply-add printed last (CPU time per token, one thread,
 * loading left out: steadier than wall time on a shared machine) are what targets/host.json records
 * under estimate.measured (at the profile's clock).
 *
 * Usage: RETRO_RUNC=/path/to/run RETRO_RUNQ=/path/to/runq npm run bench:host
 * (you build llama2.c's run.c and runq.c yourself, e.g. gcc -O3 -o run run.c -lm; retro never builds
 * or ships them; without them only retro's rows are measured). RETRO_BENCH_ROUNDS (default 5).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { engineArgs } from '../src/codegen/engine-args.js';
import { runBuild } from '../src/core/build.js';
import { openModel } from '../src/model/open.js';
import { shapeConfig, syntheticTokenizer, writeSyntheticV0 } from '../src/model/synthetic.js';
import { planNative } from '../src/model/format.js';
import { readTokenizer } from '../src/model/tokenizer.js';
import { macsPerToken } from '../src/plan/memory.js';
import { loadProfile } from '../src/profile/load.js';
import { QUANT_NAMES } from '../src/quant/kinds.js';
import { writeV2 } from '../test/helpers/writers.js';

const STEPS = 64;
const SHORT = 16;
const ROUNDS = Number(process.env.RETRO_BENCH_ROUNDS ?? 5);
const PROMPT = 'Once upon a time';
const FLAGS = [['-O2'], ['-O3']];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Sample {
  wallTps: number;
  cpuSeconds: number;
  stdout: string;
}

/** One run: the program's own wall-clock tok/s and the CPU seconds /usr/bin/time counts for it. */
function timed(program: string, args: string[], cwd: string): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', 'retro-bench-cpu %U %S', program, ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${program} failed: ${r.stderr}`);
  const cpu = /retro-bench-cpu ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { wallTps: Number(/achieved tok\/s: ([\d.]+)/.exec(r.stderr)?.[1] ?? NaN), cpuSeconds: Number(cpu?.[1]) + Number(cpu?.[2]), stdout: r.stdout };
}

it('host speed per kind and compile flags, threads, and the ratios to llama2.c like for like', async () => {
  const dir = process.env.RETRO_BENCH_DIR ?? join(tmpdir(), 'retro-bench');
  mkdirSync(dir, { recursive: true });
  const v0 = join(dir, '15M.bin');
  if (!existsSync(v0)) writeSyntheticV0(v0, { config: shapeConfig('15M'), sharedClassifier: true, seed: 1 });
  const tok = join(dir, 'tok32000.bin');
  if (!existsSync(tok)) writeFileSync(tok, syntheticTokenizer(32000));
  // runq's file: the same weights as llama2.c's version 2 (Q8_0, float32 scales, groups of 32 as its export backs off to for dim 288).
  const v2 = join(dir, '15M-q8-v2.bin');
  if (!existsSync(v2)) {
    const src = openModel(v0);
    writeV2(v2, src, 32, false);
    src.close();
  }
  const host = loadProfile('host');
  const macs = macsPerToken(planNative(shapeConfig('15M'), readTokenizer(tok, 32000), 'f32', 32, 16, true, v0));
  const args = engineArgs({ model: 'model.rtr', temperature: 0, steps: STEPS, prompt: Buffer.from(PROMPT) });
  // CPU seconds per token without loading: a full run less a SHORT one (the same text, cut earlier).
  const shortArgs = engineArgs({ model: 'model.rtr', temperature: 0, steps: SHORT, prompt: Buffer.from(PROMPT) });

  // Each kind's engine, compiled here with each flag set (the profile's other flags: -std=c89, -lm).
  const bins: { kind: string; flags: string; bin: string; cwd: string }[] = [];
  for (const kind of QUANT_NAMES) {
    const b = await runBuild({ target: 'host', model: v0, tokenizer: tok, quant: kind, groupSize: 32, out: join(dir, `host-speed-${kind}`), compile: false, force: true });
    for (const f of FLAGS) {
      const bin = join(b.out, `retro${f.join('')}`);
      execFileSync('gcc', ['-std=c89', ...f, '-o', bin, join(b.out, 'retro.c'), '-lm']);
      bins.push({ kind, flags: f.join(' '), bin, cwd: b.out });
    }
  }
  const runc = process.env.RETRO_RUNC;
  const runq = process.env.RETRO_RUNQ;
  const anchorArgs = (model: string) => [model, '-z', tok, '-t', '0', '-n', String(STEPS), '-i', PROMPT];

  const samples = new Map<string, Sample[]>();
  const add = (key: string, s: Sample) => samples.set(key, [...(samples.get(key) ?? []), s]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const b of bins) {
      add(`${b.kind} ${b.flags} -j 1`, timed(b.bin, [...args, '-j', '1'], b.cwd));
      add(`${b.kind} ${b.flags} short`, timed(b.bin, [...shortArgs, '-j', '1'], b.cwd));
    }
    for (const b of bins.filter((x) => x.kind !== 'q4' && x.flags === FLAGS.at(-1)!.join(' '))) add(`${b.kind} ${b.flags} -j 2`, timed(b.bin, [...args, '-j', '2'], b.cwd));
    if (runc) add('run', timed(runc, anchorArgs(v0), dir));
    if (runq) add('runq', timed(runq, anchorArgs(v2), dir));
    console.error(`round ${round + 1} of ${ROUNDS} done`);
  }
  const wall = (k: string) => median(samples.get(k)!.map((s) => s.wallTps));
  const cpu = (k: string) => median(samples.get(k)!.map((s) => s.cpuSeconds));

  const rows: string[][] = [];
  for (const [k] of samples) {
    if (k === 'run' || k === 'runq' || k.endsWith(' short')) continue;
    const short = k.endsWith(' -j 1') ? k.replace(/-j 1$/, 'short') : '';
    // What targets/host.json records: CPU time per token (one thread, loading left out) as cycles per multiply-add at the profile's clock.
    const perToken = samples.has(short) ? median(samples.get(k)!.map((x, i) => (x.cpuSeconds - samples.get(short)![i].cpuSeconds) / (STEPS - SHORT))) : NaN;
    rows.push([`retro host ${k}`, wall(k).toFixed(1), cpu(k).toFixed(2), samples.has(short) ? `${(1 / perToken).toFixed(1)} tok/s, ${((host.cpu.clockMhz * 1e6 * perToken) / macs).toFixed(3)} cycles per multiply-add` : '-']);
  }
  const ratios: string[] = [];
  for (const [anchor, kind] of [['run', 'f32'], ['runq', 'q8']] as const) {
    if (!samples.has(anchor)) continue;
    // Same text, so the same tokens: the wall ratio is of tok/s, the CPU ratio of seconds for the same run.
    for (const f of FLAGS) {
      const k = `${kind} ${f.join(' ')} -j 1`;
      expect(samples.get(k)![0].stdout).toBe(samples.get(anchor)![0].stdout);
      ratios.push(`| retro ${k} vs ${anchor} | ${(wall(k) / wall(anchor)).toFixed(2)}x (wall: ${wall(k).toFixed(1)} vs ${wall(anchor).toFixed(1)} tok/s) | ${(cpu(anchor) / cpu(k)).toFixed(2)}x (CPU: ${cpu(k).toFixed(2)} vs ${cpu(anchor).toFixed(2)} s) |`);
    }
    rows.push([anchor, wall(anchor).toFixed(1), cpu(anchor).toFixed(2), '-']);
  }
  console.log(`Machine: ${cpus().length} x ${cpus()[0]?.model}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}; 15M shape (${(macs / 1e6).toFixed(1)} M multiply-adds per token), ${STEPS} steps, medians of ${ROUNDS} interleaved rounds\n`);
  console.log(`| program | wall tok/s (its own) | CPU s per run (user+sys, loading included) | by CPU time per token (runs of ${STEPS} less ${SHORT} tokens), at ${host.cpu.clockMhz} MHz |\n| --- | ---: | ---: | ---: |`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  // The flags the host profile should build with: the set faster (wall, one thread) on more kinds.
  const wins = FLAGS.map((f) => QUANT_NAMES.filter((k) => FLAGS.every((g) => wall(`${k} ${f.join(' ')} -j 1`) >= wall(`${k} ${g.join(' ')} -j 1`))).length);
  console.log(`\nfastest flags: ${FLAGS[wins.indexOf(Math.max(...wins))].join(' ')} (faster on ${Math.max(...wins)} of ${QUANT_NAMES.length} kinds)`);
  if (ratios.length > 0) console.log(`\n| like for like | wall vs wall | CPU vs CPU |\n| --- | --- | --- |\n${ratios.join('\n')}`);
}, 3_600_000);
