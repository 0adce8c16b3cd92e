/**
 * Test-only Hugging Face folder writer: config.json and model.safetensors (or shards plus
 * model.safetensors.index.json) from a model retro has read, with Q/K rows in Hugging Face's
 * rotate-half order, so the reader's un-permuting is checked against the original file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadWeights, type ModelSource } from '../../src/model/source.js';
import { toF32 } from '../../src/quant/kinds.js';
import { headSize, type Matrix } from '../../src/reference/model.js';
import { floatToHalf } from './writers.js';

export type HfDtype = 'F32' | 'F16' | 'BF16';

function encode(data: Float32Array, dtype: HfDtype): Buffer {
  if (dtype === 'F32') return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.alloc(data.length * 2);
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) {
    // bf16: round to nearest even on the upper 16 bits
    const v = dtype === 'F16' ? floatToHalf(data[i]) : (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16;
    out.writeUInt16LE(v, i * 2);
  }
  return out;
}

/** Hugging Face's layout: within each head, all even (real) rows first, then the odd ones. */
function permute(m: Matrix, hs: number): Float32Array {
  const src = toF32(m).data;
  const out = new Float32Array(src.length);
  const half = hs / 2;
  for (let r = 0; r < m.rows; r++) {
    const h = Math.floor(r / hs);
    const k = r % hs;
    const dst = h * hs + (k % 2) * half + (k >> 1);
    out.set(src.subarray(r * m.cols, (r + 1) * m.cols), dst * m.cols);
  }
  return out;
}

function safetensors(tensors: [string, number[], Buffer, HfDtype][]): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, shape, data, dtype] of tensors) {
    header[name] = { dtype, shape, data_offsets: [off, off + data.length] };
    off += data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => t[2])]);
}

/** `normDtype` (default: dtype) lets norms stay F32 beside F16/BF16 matrices, as llama.cpp's GGUFs keep them. */
export function writeHfFolder(dir: string, src: ModelSource, opts: { dtype: HfDtype; normDtype?: HfDtype; shards?: number; config?: Record<string, unknown> }): void {
  mkdirSync(dir, { recursive: true });
  const c = src.config;
  const w = loadWeights(src);
  const hs = headSize(c);
  const t: [string, number[], Buffer, HfDtype][] = [];
  const normDtype = opts.normDtype ?? opts.dtype;
  const mat = (name: string, m: Matrix, data = toF32(m).data) => t.push([name, [m.rows, m.cols], encode(data, opts.dtype), opts.dtype]);
  const vec = (name: string, v: Float32Array) => t.push([name, [v.length], encode(v, normDtype), normDtype]);
  t.push(['model.embed_tokens.weight', [c.vocabSize, c.dim], encode(toF32(w.tokenEmbedding).data, opts.dtype), opts.dtype]);
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    vec(`${p}input_layernorm.weight`, l.rmsAtt);
    mat(`${p}self_attn.q_proj.weight`, l.wq, permute(l.wq, hs));
    mat(`${p}self_attn.k_proj.weight`, l.wk, permute(l.wk, hs));
    mat(`${p}self_attn.v_proj.weight`, l.wv);
    mat(`${p}self_attn.o_proj.weight`, l.wo);
    vec(`${p}post_attention_layernorm.weight`, l.rmsFfn);
    mat(`${p}mlp.gate_proj.weight`, l.w1);
    mat(`${p}mlp.down_proj.weight`, l.w2);
    mat(`${p}mlp.up_proj.weight`, l.w3);
  });
  vec('model.norm.weight', w.rmsFinal);
  if (!src.sharedClassifier) mat('lm_head.weight', w.wcls);

  const n = opts.shards ?? 1;
  if (n === 1) {
    writeFileSync(join(dir, 'model.safetensors'), safetensors(t));
  } else {
    const weightMap: Record<string, string> = {};
    const per = Math.ceil(t.length / n);
    for (let s = 0; s < n; s++) {
      const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
      const part = t.slice(s * per, (s + 1) * per);
      part.forEach(([tn]) => (weightMap[tn] = name));
      writeFileSync(join(dir, name), safetensors(part));
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    ...(c.headSize !== undefined ? { head_dim: c.headSize } : {}),
    tie_word_embeddings: src.sharedClassifier,
    hidden_act: 'silu',
    attention_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[opts.dtype],
    ...opts.config,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}
