/**
 * retro plan against reality: its memory figures against the engine's own accounting, the
 * streaming engine against the in-RAM one, and a 110M-shaped model streamed under a 128 MB budget.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runBuild, type BuildReport } from '../../src/core/build.js';
import { runPlan } from '../../src/core/plan.js';
import type { PlanOption } from '../../src/plan/plan.js';
import { shapeConfig, syntheticTokenizer, writeSyntheticV0 } from '../../src/model/synthetic.js';
import { retro } from '../helpers/cli.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { needTools, toolsProblem } from '../helpers/tools.js';


function engine(b: BuildReport, args: string[]) {
  const r = spawnSync(join(b.out, 'retro'), ['model.rtr', '-t', '0', '-n', '20', '-i', ONCE, '-v', '1', ...args], { cwd: b.out, encoding: 'latin1' });
  expect(r.status, r.stderr).toBe(0);
  return { stdout: r.stdout, stderr: r.stderr, ...counters(r.stderr) };
}

/** The engine's -v 1 figures. */
function counters(stderr: string) {
  const alloc = /allocated (\d+) bytes \(peak (\d+)\)/.exec(stderr);
  const read = /read (\d+) bytes per token in (\d+) reads/.exec(stderr);
  const resident = /(\d+) of \d+ layers resident/.exec(stderr);
  return { allocated: Number(alloc?.[1]), peak: Number(alloc?.[2]), read: Number(read?.[1] ?? 0), reads: Number(read?.[2] ?? 0), resident: Number(resident?.[1]) };
}

/** plan's figures for the same run, in the engine's -v 1 terms. */
function planned(o: PlanOption, nLayers: number) {
  const m = o.memory!;
  return { allocated: m.allocated, peak: m.peak, read: m.readPerToken, reads: m.readsPerToken, resident: m.mode === 'ram' ? nLayers : m.residentLayers! };
}
const figures = (x: ReturnType<typeof counters>) => ({ allocated: x.allocated, peak: x.peak, read: x.read, reads: x.reads, resident: x.resident });

describe('retro plan matches what the engine allocates and reads, byte for byte', () => {
  beforeEach((ctx) => needTools(ctx, 'gcc'));
  const cases: [string, string, 'f32' | 'q8' | 'q4', number][] = [
    ['stories260K f32', 'stories260K.bin', 'f32', 32],
    ['stories260K q8', 'stories260K.bin', 'q8', 32],
    ['stories260K q4', 'stories260K.bin', 'q4', 32],
    ['synthetic_v0 f32, unshared classifier', 'synthetic_v0.bin', 'f32', 32],
    ['synthetic_v2_q8 q8, unshared classifier', 'synthetic_v2_q8.bin', 'q8', 64],
  ];
  for (const [name, file, quant, gs] of cases) {
    it(`${name}: in RAM, all streamed and partly resident: allocated, peak, bytes and reads per token equal plan's, and the same tokens`, async () => {
      const b = await runBuild({ target: 'host', model: model(file), tokenizer: model('tok512.bin'), quant, groupSize: gs, out: join(tempDir(), 'b'), compile: true });
      const plan = (ramBudgetMb?: number) => runPlan({ target: 'host', model: model(file), tokenizer: model('tok512.bin'), quant, groupSize: gs, prompt: ONCE, ...(ramBudgetMb ? { ramBudgetMb } : {}) });
      const whole = plan();
      const L = whole.config.nLayers;
      const ram = whole.options.find((o) => o.mode === 'ram')!;
      const stream = whole.options.find((o) => o.mode === 'stream')!;
      const inRam = engine(b, ['-S', '0']);
      const streamed = engine(b, ['-S', '1']);
      expect(inRam.stderr).toMatch(/memory: in RAM/);
      expect(streamed.stderr).toMatch(/memory: streaming/);
      expect(planned(ram, L)).toEqual(figures(inRam));
      expect(planned(stream, L)).toEqual(figures(streamed));
      expect(streamed.resident).toBe(0);
      // a budget between the streamed and the in-RAM figure where plan keeps some layers resident, not all
      const between = [0.5, 0.7, 0.9, 0.97].map((f) => (stream.allocated + (ram.allocated - stream.allocated) * f) / 1048576);
      const budgetMb = between.find((mb) => [0, L].indexOf(plan(mb).options.find((o) => o.mode === 'stream')!.memory?.residentLayers ?? 0) < 0)!;
      expect(budgetMb).toBeDefined();
      const partly = plan(budgetMb).options.find((o) => o.mode === 'stream')!;
      const cut = engine(b, ['-B', String(budgetMb)]);
      expect(cut.stderr).toMatch(/memory: streaming/);
      expect(planned(partly, L)).toEqual(figures(cut));
      expect(streamed.allocated).toBeLessThan(inRam.allocated);
      expect(streamed.stdout).toBe(inRam.stdout);
      expect(cut.stdout).toBe(inRam.stdout);
    });
  }

  it('a budget the engine cannot meet even streaming is refused in one line', async () => {
    const b = await runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(tempDir(), 'b'), compile: true });
    const r = spawnSync(join(b.out, 'retro'), ['model.rtr', '-n', '4', '-B', '0.2'], { cwd: b.out, encoding: 'latin1' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^retro: model\.rtr needs [\d.]+ MB even when streaming, over the RAM budget of 0\.2 MB \(fix: run retro plan/);
  });
});

describe('a 110M-shaped model (418 MB f32) under a 128 MB budget', () => {
  beforeEach((ctx) => needTools(ctx, 'gcc'));
  const dir = tempDir('retro-110m-');
  const src = join(dir, 'm110.bin');
  const tok = join(dir, 'tok32000.bin');
  let b: BuildReport;
  beforeAll(async () => {
    if (toolsProblem('gcc')) return;
    writeSyntheticV0(src, { config: shapeConfig('110M'), sharedClassifier: true, seed: 7 });
    writeFileSync(tok, syntheticTokenizer(32000));
    b = await runBuild({ target: 'host', model: src, tokenizer: tok, quant: 'f32', groupSize: 32, out: join(dir, 'host'), compile: true });
  });

  it('streams: the same 32 tokens as in RAM, peak RSS under 144 MB; the layers the budget allows stay resident', (ctx) => {
    // GNU time measures the peak RSS (Debian package time).
    needTools(ctx, '/usr/bin/time');
    const run = (...args: string[]) => {
      const r = spawnSync('/usr/bin/time', ['-v', join(b.out, 'retro'), 'model.rtr', '-t', '0', '-n', '32', '-i', ONCE, '-v', '1', ...args], { cwd: b.out, encoding: 'latin1' });
      expect(r.status, r.stderr).toBe(0);
      const read = Number(/read (\d+) bytes per token/.exec(r.stderr)?.[1] ?? 0);
      const resident = Number(/(\d+) of 12 layers resident/.exec(r.stderr)?.[1]);
      return { out: r.stdout, err: r.stderr, read, resident, rssKb: Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]) };
    };
    const ram = run('-B', '0');
    const streamed = run('-B', '128');
    const all = run('-S', '1');
    const partial = run('-B', '256');
    expect(ram.err).toMatch(/memory: in RAM/);
    for (const x of [streamed, all, partial]) {
      expect(x.err).toMatch(/memory: streaming a layer at a time/);
      expect(x.out).toBe(ram.out);
    }
    expect(ram.out.length).toBeGreaterThan(30);
    expect(ram.rssKb).toBeGreaterThan(400 * 1024);
    expect(streamed.rssKb).toBeLessThan(144 * 1024);
    expect(partial.rssKb).toBeLessThan(272 * 1024);
    // -S 1 streams every layer; a budget keeps the first layers resident, as retro plan predicts.
    expect(all.resident).toBe(0);
    expect(all.read).toBeGreaterThan(400 * 1048576);
    expect(partial.resident).toBeGreaterThan(streamed.resident);
    expect(partial.read).toBeLessThan(all.read);
    for (const [budget, x] of [[128, streamed], [256, partial]] as const) {
      const plan = runPlan({ target: 'host', model: src, tokenizer: tok, quant: 'f32', groupSize: 32, ramBudgetMb: budget }).options.find((o) => o.mode === 'stream')!;
      expect(plan.memory!.residentLayers).toBe(x.resident);
      expect(plan.memory!.readPerToken).toBe(x.read);
    }
  });

  it('retro plan: f32 does not fit the Windows 98 PC, q8 streamed does; build --auto applies that', async () => {
    const r = await retro(['plan', '--target', 'win98-pentium2', '--model', src, '-z', tok]);
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout.toString();
    expect(text).toMatch(/^f32 +1024 +in RAM .* no: needs/m);
    expect(text).toMatch(/^f32 +1024 +streamed .* no: needs/m);
    expect(text).toMatch(/^q8 +1024 +streamed .* yes$/m);
    expect(text).toMatch(/verdict: does not fit/);
    expect(text).toMatch(/recommended: --quant q8 \(the fastest that fits by the estimates; streamed by the budget: \d+ of 12 layers resident, [\d.]+ MB read from disk per token/);
    expect(text).toMatch(/estimated speed: [\d.]+ tok\/s \(ESTIMATE, disk-bound\)/);
    const g4 = JSON.parse((await retro(['plan', '--target', 'powerbook-g4', '--model', src, '-z', tok, '--json'])).stdout.toString());
    expect(g4.verdict).toBe('fits');
    const xb = JSON.parse((await retro(['plan', '--target', 'xbox360-xenon', '--model', src, '-z', tok, '--json'])).stdout.toString());
    expect(xb.verdict).toBe('fits with streaming');

    const auto = await retro(['build', '--target', 'win98-pentium2', '--model', src, '-z', tok, '--auto', '--no-compile', '--out', join(dir, 'w98')]);
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stderr).toMatch(/--auto: q8, streaming the weights from disk, context 1024/);
    const manifest = JSON.parse(readFileSync(join(dir, 'w98', 'manifest.json'), 'utf8'));
    expect(manifest.model.quant).toBe('q8');
    // Not forced: the budget baked into the engine makes it stream, keeping resident what layers fit.
    expect(manifest.memory.stream).toBe(false);
    expect(manifest.memory.ramBudgetMb).toBe(86);
    expect(readFileSync(join(dir, 'w98', 'retro.c'), 'latin1')).toMatch(/#define RT_DEFAULT_BUDGET_MB 86\b/);
  });

  it('the engine refuses a budget too small even for streaming, and so does --auto', async () => {
    const cut = await retro(['build', '--target', 'win98-pentium2', '--model', src, '-z', tok, '--auto', '--ram-budget', '40', '--no-compile', '--out', join(dir, 'w98small')]);
    // With a 40 MB budget only a shorter context fits: --auto caps it.
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stderr).toMatch(/--auto: q8, streaming the weights from disk, context (512|256|128)/);
    const none = await retro(['build', '--target', 'win98-pentium2', '--model', src, '-z', tok, '--auto', '--ram-budget', '1', '--no-compile', '--out', join(dir, 'none')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/does not fit win98-pentium2 even quantized and streamed/);
    expect(existsSync(join(dir, 'none'))).toBe(false);
  });
});
