/** End-to-end per target: retro build, run the binaries under the profile's emulator, compare with goldens and the reference. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { engineArgs } from '../../src/codegen/engine-args.js';
import { runBuild, type BuildReport } from '../../src/core/build.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { golden, model, ONCE, tempDir, TEST_CACHE } from './fixtures.js';
import { generateText } from './run.js';
import { runnableBuilds } from './tools.js';

const GOLDEN_ARGS = engineArgs({ model: 'model.rtr', temperature: 0, steps: 256, prompt: Buffer.from(ONCE) });


/** One wine prefix for every test (making one takes seconds and 600 MB), where retro verify keeps its own. */
export function wineEnv(): Record<string, string> {
  mkdirSync(TEST_CACHE, { recursive: true });
  return { WINEPREFIX: join(TEST_CACHE, 'wine') };
}

/** Builds stories260K for `target` (f32 and q8) and checks every binary the profile makes here. */
export function targetEndToEnd(target: string, other: { target: string; file: string } | null): void {
  const out = tempDir(`retro-e2e-${target}-`);
  const profile = loadProfile(target);
  // built once for the file, by whichever test asks first: a failed build fails every test that needs it
  let bundles: Promise<{ f32: BuildReport; q8: BuildReport }> | undefined;
  const built = () =>
    (bundles ??= (async () => {
      const f32 = await runBuild({ target, model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(out, 'f32'), compile: true });
      const q8 = await runBuild({ target, model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 32, out: join(out, 'q8'), compile: true });
      return { f32, q8 };
    })());

  it(`builds f32 and q8 bundles for ${target}`, async (ctx) => {
    runnableBuilds(ctx, profile);
    const { f32, q8 } = await built();
    for (const r of [f32, q8]) {
      expect(r.binaries.map((b) => b.status)).toEqual(r.profile.cross.map(() => 'built'));
      const manifest = JSON.parse(readFileSync(join(r.out, 'manifest.json'), 'utf8'));
      expect(manifest.files.map((f: { name: string }) => f.name)).toEqual(expect.arrayContaining(['model.rtr', 'retro.c']));
    }
    expect(q8.model.nativeBytes).toBeLessThan(f32.model.nativeBytes / 2.5);
  });

  it(`every ${target} binary prints the stories260K greedy golden byte for byte (f32)`, async (ctx) => {
    const runnable = runnableBuilds(ctx, profile);
    const { f32 } = await built();
    for (const b of runnable) {
      const r = await runBinary(b, join(f32.out, b.output), GOLDEN_ARGS, { cwd: f32.out, env: wineEnv() });
      expect(r.stderr, b.id).toMatch(/achieved tok\/s/);
      expect(r.exitCode, `${b.id}: ${r.stderr}`).toBe(0);
      expect(r.stdout.toString('latin1'), b.id).toBe(golden('stories260K_once-upon-a-time_t0_n256.txt').toString('latin1'));
    }
  });

  it(`every ${target} binary matches the TS reference on the q8 file, and seeded sampling matches too`, async (ctx) => {
    const runnable = runnableBuilds(ctx, profile);
    const { f32, q8 } = await built();
    const ref = generateText({ model: join(q8.out, 'model.rtr'), temperature: 0, steps: 256, prompt: ONCE });
    const seeded = golden('stories260K_once-upon-a-time_t1.0_p0.9_s42_n200.txt').toString('latin1');
    for (const b of runnable) {
      const r = await runBinary(b, join(q8.out, b.output), GOLDEN_ARGS, { cwd: q8.out, env: wineEnv() });
      expect(r.stdout.toString('latin1'), b.id).toBe(ref.toString('latin1'));
      const s = await runBinary(b, join(f32.out, b.output), engineArgs({ model: 'model.rtr', temperature: 1.0, topp: 0.9, seed: 42n, steps: 200, prompt: Buffer.from(ONCE) }), { cwd: f32.out, env: wineEnv() });
      expect(s.stdout.toString('latin1'), b.id).toBe(seeded);
    }
  });

  it(`every ${target} binary prints llama2.c's other goldens byte for byte (multinomial sampling, synthetic_v0, runq on synthetic_v2_q8)`, async (ctx) => {
    const runnable = runnableBuilds(ctx, profile);
    const { f32 } = await built();
    const v0 = await runBuild({ target, model: model('synthetic_v0.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(out, 'v0'), compile: true });
    const v2 = await runBuild({ target, model: model('synthetic_v2_q8.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 64, out: join(out, 'v2'), compile: true });
    const runs: [BuildReport, string[], string][] = [
      [f32, ['-t', '0.8', '-p', '1.0', '-s', '1337', '-n', '200', '-i', 'The little dog'], 'stories260K_the-little-dog_t0.8_p1.0_s1337_n200.txt'],
      [v0, ['-t', '0', '-n', '60', '-i', ONCE], 'synthetic_v0_t0_n60.txt'],
      [v2, ['-t', '0', '-n', '60', '-i', ONCE], 'synthetic_v2q8_t0_n60.txt'],
    ];
    for (const [bundle, args, file] of runs) {
      for (const b of runnable) {
        const r = await runBinary(b, join(bundle.out, b.output), ['model.rtr', ...args], { cwd: bundle.out, env: wineEnv() });
        expect(r.stdout.toString('latin1'), `${b.id} ${file}`).toBe(golden(file).toString('latin1'));
      }
    }
  });

  it(`${target} refuses a model built for the other byte order, and a truncated one`, async (ctx) => {
    const b = runnableBuilds(ctx, profile)[0];
    const { f32 } = await built();
    if (other) {
      const foreign = await runBuild({ target: other.target, model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(out, 'foreign'), compile: false });
      const r = await runBinary(b, join(f32.out, b.output), [join(foreign.out, 'model.rtr'), '-n', '4'], { cwd: f32.out, env: wineEnv() });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`model\\.rtr was built for ${other.target} \\(the other byte order\\); this engine is ${target}`));
      expect(r.stdout.length).toBe(0);
    }
    const cut = join(out, 'cut.rtr');
    writeFileSync(cut, readFileSync(join(f32.out, 'model.rtr')).subarray(0, 5000));
    const t = await runBinary(b, join(f32.out, b.output), [cut, '-n', '4'], { cwd: f32.out, env: wineEnv() });
    expect(t.exitCode).toBe(1);
    expect(t.stderr).toMatch(/truncated or padded: header says \d+ bytes, file has 5000/);
  });
}
