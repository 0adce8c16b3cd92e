/** Verify runs per target: stories260K and the synthetic checkpoints, f32 and q8, free-running and teacher-forced. */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runVerify, type VerifyRequest } from '../../src/core/verify.js';
import { toleranceFor } from '../../src/verify/bundle.js';
import { selectKernels } from '../../src/codegen/render.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { model, ONCE, tempDir, TEST_CACHE } from './fixtures.js';
import { wineEnv } from './e2e.js';
import { runnableBuilds } from './tools.js';

export function verifyRequest(target: string, over: Partial<VerifyRequest>): VerifyRequest {
  return { target, quant: 'f32', groupSize: 32, modes: ['free', 'forced'], steps: 48, prompt: Buffer.from(ONCE), temperature: 0, topp: 0.9, seed: 42n, cacheDir: TEST_CACHE, ...over };
}

export function targetVerify(target: string): void {
  const dir = tempDir(`retro-verify-${target}-`);
  const profile = loadProfile(target);
  const cases: [string, Partial<VerifyRequest>][] = [
    ['stories260K f32, greedy', { model: model('stories260K.bin'), tokenizer: model('tok512.bin') }],
    ['stories260K q8, seeded sampling', { model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', temperature: 1, seed: 42n }],
    ['stories260K q4 (hidden_dim 172: ragged groups, odd nibbles), greedy', { model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q4' }],
    ['synthetic_v0 f32 (unshared classifier)', { model: model('synthetic_v0.bin'), tokenizer: model('tok512.bin') }],
    ['synthetic_v0 q8 (dim 128 = four groups: the four-row SIMD path)', { model: model('synthetic_v0.bin'), tokenizer: model('tok512.bin'), quant: 'q8', steps: 24 }],
    ['synthetic_v0 q4 (aligned rows: the SIMD nibble path)', { model: model('synthetic_v0.bin'), tokenizer: model('tok512.bin'), quant: 'q4', steps: 24 }],
    ['synthetic_v2_q8 q8 (group size 64 passed through)', { model: model('synthetic_v2_q8.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 64 }],
    ['streamed stories260K f32 (a 1 MB budget forces streaming)', { model: model('stories260K.bin'), tokenizer: model('tok512.bin'), ramBudgetMb: 1 }],
    ['streamed synthetic_v2_q8 q8 (--stream, unshared classifier read in chunks)', { model: model('synthetic_v2_q8.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 64, stream: true }],
    ['int8-cache stories260K q8 (--kv-cache int8)', { model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', kvCache: 'int8' }],
    ['int8-cache synthetic_v0 f32 (--kv-cache int8, streamed)', { model: model('synthetic_v0.bin'), tokenizer: model('tok512.bin'), kvCache: 'int8', stream: true, steps: 24 }],
  ];
  for (const [name, over] of cases) {
    it(`verify ${target}: ${name}, free-running and teacher-forced`, async (ctx) => {
      const runnable = runnableBuilds(ctx, profile);
      const bundle = join(dir, name.split(' ').slice(0, 2).join('-') + (over.quant ?? 'f32'));
      const r = await runVerify(verifyRequest(target, { ...over, bundle }));
      const builds = runnable.length;
      const kernels = selectKernels(profile).length;
      expect(r.runs).toHaveLength(builds * 2 * kernels);
      for (const run of r.runs) {
        const what = `${run.build} ${run.result.mode}`;
        expect(run.result.failures, what).toEqual([]);
        expect(run.result.positions.length).toBeGreaterThan(8);
        // Scalar and integer SIMD kernels: bit for bit, every token the reference's.
        if (toleranceFor(r.profile, run.quant as 'f32' | 'q8' | 'q4', run.kernel).logit === 0) {
          expect(run.result.worstLogitErr, what).toBe(0);
          expect(run.result.worstRelL2, what).toBe(0);
          expect(run.result.argmaxAgree, what).toBe(run.result.positions.length);
        }
      }
      // Every kernel that may differ is run next to an exact one.
      expect(r.runs.filter((x) => x.kernel === 'scalar').length).toBe(r.runs.length / kernels);
      expect(r.pass).toBe(true);
      if (over.kvCache) {
        // The engine runs the cache model.rtr asks for, and says so.
        for (const b of runnable) {
          const run = await runBinary(b, join(bundle, b.output), ['model.rtr', '-n', '3', '-v', '1'], { cwd: bundle, env: wineEnv() });
          expect(run.stderr, b.id).toMatch(new RegExp(`${over.kvCache} kv cache`));
        }
      }
      if (over.stream || over.ramBudgetMb) {
        // The engine did stream: it says so, and how much it read per token.
        for (const b of runnable) {
          const run = await runBinary(b, join(bundle, b.output), ['model.rtr', '-n', '3', '-v', '1'], { cwd: bundle, env: wineEnv() });
          expect(run.stderr, b.id).toMatch(/memory: streaming a layer at a time/);
          expect(run.stderr, b.id).toMatch(/read \d+ bytes per token/);
        }
      }
    });
  }
}
