/**
 * GGUF metadata that changes the arithmetic (head size apart from dim / heads, RoPE base, RoPE
 * frequency factors, RMSNorm epsilon, tied output) checked against llama.cpp on the same file;
 * llama variants retro does not implement refused by name.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { openModel } from '../../src/model/open.js';
import { headSize } from '../../src/reference/model.js';
import { expectError } from '../helpers/errors.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { f32Tensor, llamaGguf, vocabKvs, type KV, type LlamaShape, type RawTensor } from '../helpers/gguf-writer.js';
import { llamaGreedy } from '../helpers/llama-oracle.js';
import { loadTransformer, parity } from '../helpers/parity.js';

// F32 weights: llama.cpp and retro differ only in summation order (see llama-cpp.test.ts for the bound)
const F32_TOLERANCE = 0.001; // measured 9e-5
const SHAPE: LlamaShape = { dim: 256, hiddenDim: 512, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 32000, headSize: 96, contextLength: 512 };

let dir: string;
let vocab: KV[];
beforeAll(() => {
  dir = tempDir('retro-gguf-meta-');
  vocab = vocabKvs(model('gguf/l2-q8_0.gguf'));
});

describe('metadata that changes the arithmetic, run by llama.cpp and by retro', () => {
  it('head size 96 with dim 256 / 4 heads, RoPE base 500000, rope_freqs factors, epsilon 1e-6, tied output, EOT id', async () => {
    const p = join(dir, 'meta.gguf');
    const factors = Float32Array.from({ length: SHAPE.headSize / 2 }, (_, j) => 1 + j * 1.5);
    llamaGguf(p, SHAPE, {
      vocab,
      tied: true,
      kvs: [
        ['llama.rope.freq_base', 'f32', 500000],
        ['llama.attention.layer_norm_rms_epsilon', 'f32', 1e-6],
        ['tokenizer.ggml.eot_token_id', 'u32', 13],
      ],
      tensors: [f32Tensor('rope_freqs.weight', 1, SHAPE.headSize / 2, factors)],
    });
    const src = openModel(p);
    expect(headSize(src.config)).toBe(96);
    expect(src.config.ropeTheta).toBe(500000);
    expect(src.config.normEps).toBe(Math.fround(1e-6));
    expect([...src.config.ropeFreqFactors!]).toEqual([...factors]);
    expect(src.sharedClassifier).toBe(true);
    expect(src.vocab).toMatchObject({ bosId: 1, eosId: 2, eotId: 13 });
    src.close();

    const prompts = [ONCE, 'def f(x):\n    return x  # ok\r\n\tdone  '];
    const t = loadTransformer(p);
    for (const r of await llamaGreedy(p, prompts, 32)) {
      const q = parity(t, r.promptIds, r.ids, r.logProbs);
      expect(q.maxLogitDiff, JSON.stringify(q)).toBeLessThanOrEqual(F32_TOLERANCE);
    }
  }, 120_000);
});

describe('llama variants retro does not implement are refused by name', () => {
  const refusal = (name: string, opts: { kvs?: KV[]; tensors?: RawTensor[] }, pattern: RegExp) => {
    const p = join(dir, `${name}.gguf`);
    llamaGguf(p, { ...SHAPE, headSize: 64, vocabSize: 32000, nLayers: 1 }, { vocab, ...opts });
    expectError(() => openModel(p), ModelFormatError, pattern);
  };
  const vec = (name: string, n: number) => f32Tensor(name, 1, n, new Float32Array(n));

  it('a family refused by what it lacks', () => refusal('qwen3moe', { kvs: [['general.architecture', 'str', 'qwen3moe']] }, /GGUF architecture "qwen3moe" needs mixture of experts \(ffn_gate_inp and the ffn_\*_exps expert tensors\), which retro does not implement/));
  it('MLA', () => refusal('deepseek2', { kvs: [['general.architecture', 'str', 'deepseek2']] }, /"deepseek2" needs multi-head latent attention \(attn_kv_a_mqa, attn_kv_b\)/));
  it('Gemma 3n', () => refusal('gemma3n', { kvs: [['general.architecture', 'str', 'gemma3n']] }, /"gemma3n" needs per-layer embeddings \(per_layer_token_embd\)/));
  it('an unknown family', () => refusal('mamba', { kvs: [['general.architecture', 'str', 'mamba']] }, /GGUF architecture "mamba" is not one retro runs \(llama, qwen2, qwen3, smollm3\)/));
  it('a row whose keys are missing', () => refusal('qwen2', { kvs: [['general.architecture', 'str', 'qwen2']] }, /GGUF metadata qwen2\.attention\.head_count is missing/));
  it('bias vectors', () => refusal('bias', { tensors: [vec('blk.0.attn_q.bias', 256)] }, /tensor "blk\.0\.attn_q\.bias" means bias vectors, which retro does not implement/));
  it('QK-norm', () => refusal('qknorm', { tensors: [vec('blk.0.attn_k_norm.weight', 64)] }, /blk\.0\.attn_k_norm\.weight" means QK-norm/));
  it('mixture of experts', () => refusal('moe', { kvs: [['llama.expert_count', 'u32', 8]] }, /8 experts \(mixture of experts\), which retro does not implement/));
  it('a tensor no llama layer has', () => refusal('extra', { tensors: [vec('blk.0.mystery.weight', 8)] }, /tensor "blk\.0\.mystery\.weight" is not part of the llama layers retro runs/));
  it('YaRN / linear RoPE scaling', () => refusal('yarn', { kvs: [['llama.rope.scaling.type', 'str', 'yarn']] }, /RoPE scaling "yarn", which retro does not implement/));
  it('partial rotary', () => refusal('partial', { kvs: [['llama.rope.dimension_count', 'u32', 32]] }, /RoPE on 32 of 64 head dimensions \(partial rotary\)/));
  it('value heads unlike key heads', () =>
    refusal('vlen', { kvs: [['llama.attention.key_length', 'u32', 64], ['llama.attention.value_length', 'u32', 32]] }, /value head size 32 different from key head size 64/));
  it('rope_freqs of the wrong length', () =>
    refusal('ropefreqs', { tensors: [vec('rope_freqs.weight', 16)] }, /tensor rope_freqs\.weight is 1x16, expected 1x32/));
});

describe('corrupt GGUF headers are one clear line', () => {
  const patched = (name: string, patch: (b: Buffer) => void): string => {
    const b = Buffer.from(readFileSync(model('gguf/l2-q8_0.gguf')));
    patch(b);
    const p = join(dir, name);
    writeFileSync(p, b);
    return p;
  };
  it('a huge tensor count', () => {
    expectError(() => openModel(patched('count.gguf', (b) => b.writeBigUInt64LE(1n << 40n, 8))), ModelFormatError, /corrupt GGUF: tensor count of 1099511627776 does not fit in the file/);
  });
  it('a tensor offset past the end of the file', () => {
    const name = 'blk.1.ffn_up.weight';
    expectError(
      () => openModel(patched('offset.gguf', (b) => b.writeBigUInt64LE(1n << 34n, b.indexOf(name) + name.length + 4 + 16 + 4))),
      ModelFormatError,
      /truncated: tensor blk\.1\.ffn_up\.weight ends at byte \d+, file has 19391456/,
    );
  });
  it('a tensor shape that does not match the metadata', () => {
    const name = 'blk.0.attn_k.weight';
    expectError(() => openModel(patched('shape.gguf', (b) => b.writeBigUInt64LE(64n, b.indexOf(name) + name.length + 4 + 8))), ModelFormatError, /tensor blk\.0\.attn_k\.weight is 64x256, expected 128x256/);
  });
});
