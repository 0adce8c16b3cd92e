/** The int8 KV cache in the reference: what it stores, and that it is not the f32 cache. */
import { describe, expect, it } from 'vitest';
import { loadWeights } from '../../src/model/source.js';
import { openModel } from '../../src/model/open.js';
import { newQuantizedVector, quantize } from '../../src/reference/math.js';
import { buildTransformer, forward } from '../../src/reference/forward.js';
import { kvDim, withKvCache } from '../../src/reference/model.js';
import { model } from '../helpers/fixtures.js';

const src = openModel(model('stories260K.bin'));
const config = src.config;
const weights = loadWeights(src);
src.close();
const TOKENS = [1, 403, 407, 261, 378, 281, 306, 494, 52, 9];

describe('int8 KV cache (reference)', () => {
  it("layer 0's cache is runq's quantize of the f32 cache, one group per KV head, at every position", () => {
    const f = buildTransformer(config, weights);
    const q = buildTransformer(withKvCache(config, 'int8'), weights);
    TOKENS.forEach((tok, pos) => {
      forward(f, tok, pos);
      forward(q, tok, pos);
    });
    // layer 0's keys and values depend on the token alone, so the two runs cache the same numbers
    const kv = kvDim(config);
    const hs = kv / config.nKvHeads;
    for (let pos = 0; pos < TOKENS.length; pos++) {
      for (const [cache, quantized] of [
        [f.state.keyCache, q.state.keyQ],
        [f.state.valueCache, q.state.valueQ],
      ] as const) {
        const want = newQuantizedVector(kv, hs);
        quantize(want, cache.subarray(pos * kv, (pos + 1) * kv), kv, hs);
        expect(Array.from(quantized.q.subarray(pos * kv, (pos + 1) * kv))).toEqual(Array.from(want.q));
        expect(Array.from(quantized.s.subarray(pos * config.nKvHeads, (pos + 1) * config.nKvHeads))).toEqual(Array.from(want.s));
      }
    }
    expect(q.state.keyCache.length).toBe(0);
    expect(f.state.keyQ.q.length).toBe(0);
  });

  it('attention over it moves the logits a little: not the f32 logits, within 2 (measured 0.90)', () => {
    const f = buildTransformer(config, weights);
    const q = buildTransformer(withKvCache(config, 'int8'), weights);
    let worst = 0;
    TOKENS.forEach((tok, pos) => {
      const a = Float32Array.from(forward(f, tok, pos));
      const b = forward(q, tok, pos);
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    });
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(2);
  });
});
