/**
 * Every GGML type retro reads, dequantized bit for bit as llama.cpp's own ggml does it: on the
 * GGUFs llama.cpp quantized in ../shared/models/gguf and on fixtures made here by llama.cpp's
 * llama_model_quantize, compared against ggml's to_float run through libggml-base.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { GGML_TYPES } from '../../src/model/ggml/types.js';
import { openModel } from '../../src/model/open.js';
import type { MatrixName, ModelSource, VectorName } from '../../src/model/source.js';
import { toF32 } from '../../src/quant/kinds.js';
import { expectError } from '../helpers/errors.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { FTYPE, llamaDequantize, llamaQuantize, PURE_TYPES, pureFixture } from '../helpers/llama-oracle.js';

const SHARED = ['l2-q4_k_m', 'l2-q6_k', 'l2-q8_0', 'l3t-q4_k_m'];
const MATRICES: [MatrixName, string][] = [['wq', 'attn_q'], ['wk', 'attn_k'], ['wv', 'attn_v'], ['wo', 'attn_output'], ['w1', 'ffn_gate'], ['w2', 'ffn_down'], ['w3', 'ffn_up']];
const VECTORS: [VectorName, string][] = [['rms_att', 'attn_norm'], ['rms_ffn', 'ffn_norm']];

/** Every tensor retro reads from the file, by its GGUF name, as float32. */
function retroTensors(src: ModelSource): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  out.set('token_embd.weight', toF32(src.tokenEmbedding()).data);
  out.set('output_norm.weight', src.rmsFinal());
  if (!src.sharedClassifier) out.set('output.weight', toF32(src.classifier()).data);
  for (let l = 0; l < src.config.nLayers; l++) {
    for (const [k, n] of MATRICES) out.set(`blk.${l}.${n}.weight`, toF32(src.layerMatrix(k, l)).data);
    for (const [k, n] of VECTORS) out.set(`blk.${l}.${n}.weight`, src.layerVector(k, l));
  }
  return out;
}

/** Bit-identical, NaN-safe: the same 32-bit patterns. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

let dir: string;
beforeAll(() => {
  dir = tempDir('retro-ggml-');
});

function checkAgainstGgml(file: string, tag: string): Set<string> {
  const src = openModel(file);
  const ours = retroTensors(src);
  const theirs = llamaDequantize(file, join(dir, `dq-${tag}`));
  const types = new Set(src.tensors!.map((t) => t.type));
  src.close();
  expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
  const differing = [...ours].filter(([name, v]) => !sameBits(v, theirs.get(name)!)).map(([n]) => n);
  expect(differing).toEqual([]);
  return types;
}

describe('dequantization equals ggml to_float bit for bit', () => {
  it.each(SHARED)('%s.gguf (quantized by llama.cpp)', (name) => {
    const types = checkAgainstGgml(model(`gguf/${name}.gguf`), name);
    if (name.includes('q4_k_m')) expect([...types].sort()).toEqual(['F32', 'Q4_K', 'Q6_K']);
  });

  it('one fixture per listed type, from llama_model_quantize: all 15 types covered (the ternary TQ1_0 and TQ2_0 too)', () => {
    const seen = new Set<string>();
    for (const type of PURE_TYPES) {
      const file = pureFixture(model('gguf/l2-q8_0.gguf'), dir, type);
      const types = checkAgainstGgml(file, type);
      expect(types.has(type)).toBe(true);
      types.forEach((t) => seen.add(t));
    }
    expect([...seen].sort()).toEqual(GGML_TYPES.map((t) => t.name).sort());
  }, 120_000);
});

describe('types retro does not read', () => {
  it('an IQ4_NL file from llama.cpp is one clear error naming the type and the types that work', () => {
    const p = join(dir, 'iq4_nl.gguf');
    llamaQuantize(model('gguf/l2-q8_0.gguf'), p, FTYPE.IQ4_NL, true);
    expectError(
      () => openModel(p),
      ModelFormatError,
      /tensor \S+ has GGML type IQ4_NL, which retro does not read \(it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, TQ1_0, TQ2_0\)/,
    );
  }, 60_000);

  it.each([
    [39, 'MXFP4'],
    [19, 'IQ1_S'],
    [99, 'unknown type 99'],
  ])('type id %i is refused as %s', (id, name) => {
    // the first matrix tensor's type field, patched in a copy of a llama.cpp file
    const buf = Buffer.from(readFileSync(model('gguf/l2-q8_0.gguf')));
    const at = buf.indexOf('blk.0.attn_q.weight') + 'blk.0.attn_q.weight'.length;
    expect(buf.readUInt32LE(at)).toBe(2); // two dimensions follow the name
    buf.writeUInt32LE(id, at + 4 + 16);
    const p = join(dir, `type${id}.gguf`);
    writeFileSync(p, buf);
    expect(() => openModel(p)).toThrow(new RegExp(`blk\\.0\\.attn_q\\.weight has GGML type ${name}, which retro does not read`));
  });
});
