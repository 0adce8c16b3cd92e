/**
 * plan's in-RAM figure for a quantized model: the embedding stays in its stored kind (the engine
 * dequantizes one row a token), so q8 and q4 need less than f32, and the resident weights are the
 * file's matrix bytes, nothing more. (The engine's -v 1 figure equals plan's byte for byte:
 * test/e2e/gguf-engine.test.ts, test/verify/kv-cache.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { planNative } from '../../src/model/format.js';
import { openModel } from '../../src/model/open.js';
import { engineMemory } from '../../src/plan/memory.js';
import { isIntKind } from '../../src/quant/kinds.js';
import { model } from '../helpers/fixtures.js';

describe('a quantized model in RAM keeps its embedding quantized', () => {
  // l3t: the tied 128256-token Llama 3 test model (dim 256): the embedding is most of the weights
  const src = openModel(model('gguf/l3t-q4_k_m.gguf'));
  const vocab = src.vocab!;
  const ram = (quant: 'f32' | 'q8' | 'q4') => {
    const layout = planNative(src.config, vocab, quant, 32, 16, src.sharedClassifier, src.path);
    const matrices = layout.entries.filter((e) => e.name !== 'rope_cos' && e.name !== 'rope_sin' && e.rows > 1);
    const fileWeights = matrices.reduce((n, e) => n + e.dataBytes + (isIntKind(e.kind) ? e.scaleBytes : 0), 0);
    const m = engineMemory(layout, vocab, 8, Infinity, false);
    return { allocated: m.allocated, weights: m.parts.find((p) => p.name === 'weights (resident)')!.bytes, fileWeights };
  };

  it('q8 and q4 below f32, each holding only the matrices as stored', () => {
    const [f32, q8, q4] = [ram('f32'), ram('q8'), ram('q4')];
    expect(src.sharedClassifier).toBe(true);
    for (const r of [f32, q8, q4]) expect(r.weights).toBe(r.fileWeights);
    expect(q8.allocated).toBeLessThan(f32.allocated / 2);
    expect(q4.allocated).toBeLessThan(q8.allocated);
  });
});
