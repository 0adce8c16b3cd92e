/**
 * The int8 KV cache against the f32 reference and on bad input, on the host build (every target's
 * binaries run the same cases in test/verify/<target>.test.ts through helpers/verify.ts).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runBuild, type BuildReport } from '../../src/core/build.js';
import { runPlan } from '../../src/core/plan.js';
import { headerField } from '../../src/model/format.js';
import { BinaryFile } from '../../src/model/file.js';
import { readNativeHeader } from '../../src/model/native.js';
import { openModel } from '../../src/model/open.js';
import { loadQuantizedWeights } from '../../src/model/source.js';
import { withKvCache } from '../../src/reference/model.js';
import { compareTrace } from '../../src/verify/compare.js';
import { parseTrace } from '../../src/verify/trace.js';
import { RtrFile } from '../helpers/rtr.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { needTools, toolsProblem } from '../helpers/tools.js';

const dir = tempDir('retro-kv-');
const builds: Record<'f32' | 'int8', BuildReport | undefined> = { f32: undefined, int8: undefined };

function engine(b: BuildReport, args: string[]) {
  const r = spawnSync(join(b.out, 'retro'), ['model.rtr', '-t', '0', '-n', '40', '-i', ONCE, '-v', '1', ...args], { cwd: b.out, encoding: 'latin1' });
  expect(r.status, r.stderr).toBe(0);
  return { stdout: r.stdout, stderr: r.stderr, allocated: Number(/allocated (\d+) bytes/.exec(r.stderr)?.[1]) };
}

describe('int8 KV cache on the host engine', () => {
  beforeEach((ctx) => needTools(ctx, 'gcc'));
  beforeAll(async () => {
    if (toolsProblem('gcc')) return;
    for (const kv of ['f32', 'int8'] as const) {
      builds[kv] = await runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 32, out: join(dir, kv), compile: true, kvCache: kv });
    }
  });

  it('model.rtr records it, and the manifest', () => {
    const f = BinaryFile.open(join(builds.int8!.out, 'model.rtr'), 'model');
    expect(readNativeHeader(f).config.kvCache).toBe('int8');
    f.close();
    expect(JSON.parse(readFileSync(join(builds.int8!.out, 'manifest.json'), 'utf8')).memory.kvCache).toBe('int8');
  });

  it("a trace of the int8 engine equals the int8 reference bit for bit, and is not the f32 reference's", () => {
    const b = builds.int8!;
    const forced = join(b.out, 'forced.txt');
    writeFileSync(forced, '1 403 407 261 378 281 306 494 52 9 403 407 261 378 281\n');
    engine(b, ['-F', 'forced.txt', '-T', 'trace.txt']);
    const trace = parseTrace(readFileSync(join(b.out, 'trace.txt'), 'latin1'), 'trace.txt');
    const src = openModel(model('stories260K.bin'));
    const weights = loadQuantizedWeights(src, 'q8', 32);
    const exact = { logit: 0, relL2: 0 };
    const int8 = compareTrace(trace, withKvCache(src.config, 'int8'), weights, exact);
    const f32 = compareTrace(trace, src.config, weights, exact);
    src.close();
    expect(int8.failures).toEqual([]);
    expect(int8.worstLogitErr).toBe(0);
    expect(f32.pass).toBe(false);
    expect(f32.worstLogitErr).toBeGreaterThan(0);
  });

  it("plan's allocation is the engine's byte for byte with either cache, in RAM and streamed", () => {
    const plan = (kv: 'f32' | 'int8') => runPlan({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 32, kvCache: kv }).options;
    const [pf, pi] = [plan('f32'), plan('int8')];
    for (const [mode, flag] of [['ram', '0'], ['stream', '1']] as const) {
      const ef = engine(builds.f32!, ['-S', flag]);
      const ei = engine(builds.int8!, ['-S', flag]);
      expect(ei.stderr).toMatch(/int8 kv cache/);
      const [f, i] = [pf.find((o) => o.mode === mode)!.allocated, pi.find((o) => o.mode === mode)!.allocated];
      expect([f, i]).toEqual([ef.allocated, ei.allocated]);
      // stories260K: 5 layers x 512 positions x kv_dim 32 (4 KV heads of 8), keys and values: 4 bytes a value against 1 plus a float a head
      expect(f - i).toBe(2 * 5 * 512 * 32 * 4 - 2 * (5 * 512 * 32 + 5 * 512 * 4 * 4));
    }
  });

  it('an unknown KV cache kind in the header is refused in one line by the engine and by retro', () => {
    const b = builds.int8!;
    const bad = join(dir, 'bad-kv.rtr');
    writeFileSync(bad, new RtrFile(readFileSync(join(b.out, 'model.rtr'))).setU32(headerField('kvCache').offset, 2).buf);
    const r = spawnSync(join(b.out, 'retro'), [bad, '-n', '4'], { encoding: 'latin1' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^retro: .*bad-kv\.rtr: header field KV cache is not 0 \(f32\) or 1 \(int8\) \(fix: [^)]+\)\n$/);
    const f = BinaryFile.open(bad, 'model');
    expect(() => readNativeHeader(f)).toThrow(/header field kvCache: 2 \(must be below 2\)/);
    f.close();
  });
});
