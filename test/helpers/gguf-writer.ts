/**
 * A GGUF v3 writer for hand-made fixtures: any metadata, any tensors (raw bytes of any ggml type),
 * so the reader's handling of each key, tensor and refusal can be checked, and llama.cpp can run
 * the very same file.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { BinaryFile } from '../../src/model/file.js';
import { archByName, type ArchName } from '../../src/model/arch.js';
import { readGgufHeader } from '../../src/model/gguf.js';
import { floatToHalf } from './writers.js';

type Scalar = 'u32' | 'i32' | 'f32' | 'bool' | 'str';
export type KV = [key: string, type: Scalar | `${Scalar}[]`, value: unknown];
export interface RawTensor {
  name: string;
  dims: number[]; // ne[0] (the row length) first
  type: number; // ggml type id
  /**
   * The bytes, or a function making them when the file is written, so big fixtures never sit in
   * memory whole; or 'hole': `bytes` of zeros left unwritten (a sparse file of any size).
   */
  data: Buffer | (() => Buffer) | 'hole';
  bytes?: number; // required with a function or a hole
}

const TYPE_ID: Record<Scalar, number> = { u32: 4, i32: 5, f32: 6, bool: 7, str: 8 };

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}
function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u64(b.length), b]);
}
function scalar(type: Scalar, v: unknown): Buffer {
  const b = Buffer.alloc(4);
  if (type === 'str') return str(String(v));
  if (type === 'bool') return Buffer.of(v ? 1 : 0);
  if (type === 'f32') b.writeFloatLE(Number(v));
  else if (type === 'i32') b.writeInt32LE(Number(v));
  else b.writeUInt32LE(Number(v));
  return b;
}

export function writeGgufFile(path: string, kvs: KV[], tensors: RawTensor[]): void {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(kvs.length)];
  for (const [key, type, value] of kvs) {
    parts.push(str(key));
    if (type.endsWith('[]')) {
      const et = type.slice(0, -2) as Scalar;
      const arr = value as unknown[];
      parts.push(u32(9), u32(TYPE_ID[et]), u64(arr.length));
      for (const v of arr) parts.push(scalar(et, v)); // not spread: 280K merges overflow the call stack
    } else {
      parts.push(u32(TYPE_ID[type as Scalar]), scalar(type as Scalar, value));
    }
  }
  let offset = 0;
  const size = (t: RawTensor) => (typeof t.data === 'function' || t.data === 'hole' ? t.bytes! : t.data.length);
  for (const t of tensors) {
    parts.push(str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(offset));
    offset += Math.ceil(size(t) / 32) * 32;
  }
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc(Math.ceil(b.length / 32) * 32 - b.length)]);
  const fd = openSync(path, 'w');
  try {
    const head = pad(Buffer.concat(parts));
    writeSync(fd, head);
    let at = head.length;
    for (const t of tensors) {
      if (t.data !== 'hole') {
        const data = typeof t.data === 'function' ? t.data() : t.data;
        if (data.length !== size(t)) throw new Error(`${t.name}: ${data.length} bytes, declared ${size(t)}`);
        writeSync(fd, pad(data), 0, undefined, at);
      }
      at += Math.ceil(size(t) / 32) * 32;
    }
    ftruncateSync(fd, at);
  } finally {
    closeSync(fd);
  }
}

/** The SentencePiece vocabulary keys of a llama.cpp GGUF (the l2 fixtures carry Llama 2's). */
export function vocabKvs(ggufPath: string): KV[] {
  const file = BinaryFile.open(ggufPath, 'model');
  try {
    const { meta } = readGgufHeader(file);
    return [
      ['tokenizer.ggml.model', 'str', meta.get('tokenizer.ggml.model')],
      ['tokenizer.ggml.tokens', 'str[]', meta.get('tokenizer.ggml.tokens')],
      ['tokenizer.ggml.scores', 'f32[]', meta.get('tokenizer.ggml.scores')],
      ['tokenizer.ggml.token_type', 'i32[]', meta.get('tokenizer.ggml.token_type')],
      ['tokenizer.ggml.bos_token_id', 'u32', meta.get('tokenizer.ggml.bos_token_id')],
      ['tokenizer.ggml.eos_token_id', 'u32', meta.get('tokenizer.ggml.eos_token_id')],
    ];
  } finally {
    file.close();
  }
}

/** float32 -> IEEE half, round to nearest even; the normal range inline (fast enough for a 1B shape), the rest by floatToHalf. */
function toHalves(v: Float32Array): Uint16Array {
  const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = bits[i];
    const exp = (x >>> 23) & 0xff;
    if (exp < 113 || exp > 141) {
      out[i] = floatToHalf(v[i]);
      continue;
    }
    let h = ((x >>> 16) & 0x8000) | ((exp - 112) << 10) | ((x >>> 13) & 0x3ff);
    const rem = x & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
    out[i] = h;
  }
  return out;
}

/** Seeded uniform numbers in [-scale, scale) (xorshift32), so fixtures are the same on every run. */
export function randomF32(n: number, seed: number, scale: number): Float32Array {
  let x = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

export function f32Tensor(name: string, rows: number, cols: number, data: Float32Array): RawTensor {
  return { name, dims: rows === 1 ? [cols] : [cols, rows], type: 0, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}

export interface LlamaShape {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  headSize: number;
  contextLength: number;
}

/** llama metadata and seeded F32 weights of a shape; `extraKvs`/`extraTensors` add or override. */
/** `holes`: the matrices are left as holes (zeros) in a sparse file, for shapes past 2 GB. */
/** `arch`: another family's row (src/model/arch.ts): its metadata prefix and its extra per-layer vectors (biases, QK-norm weights), seeded after the llama ones. */
export function llamaGguf(path: string, s: LlamaShape, opts: { kvs?: KV[]; tensors?: RawTensor[]; tied?: boolean; seed?: number; vocab: KV[]; f16?: boolean; holes?: boolean; arch?: ArchName }): void {
  const row = archByName(opts.arch ?? 'llama')!;
  const key = (k: string) => `${row.gguf}.${k}`;
  const qd = s.nHeads * s.headSize;
  const kv = s.nKvHeads * s.headSize;
  let seed = opts.seed ?? 1;
  // matrices are made as they are written: a 1B shape never sits in memory whole
  const w = (name: string, rows: number, cols: number, scale: number): RawTensor => {
    const at = seed++;
    const make = () => {
      const v = randomF32(rows * cols, at, scale);
      if (!opts.f16) return Buffer.from(v.buffer);
      return Buffer.from(toHalves(v).buffer);
    };
    return { name, dims: [cols, rows], type: opts.f16 ? 1 : 0, data: opts.holes ? 'hole' : make, bytes: rows * cols * (opts.f16 ? 2 : 4) };
  };
  const norm = (name: string) => f32Tensor(name, 1, s.dim, Float32Array.from(randomF32(s.dim, seed++, 0.2), (v) => 1 + v));
  const tensors: RawTensor[] = [w('token_embd.weight', s.vocabSize, s.dim, 1), norm('output_norm.weight')];
  if (!opts.tied) tensors.push(w('output.weight', s.vocabSize, s.dim, 0.1));
  for (let l = 0; l < s.nLayers; l++) {
    tensors.push(
      norm(`blk.${l}.attn_norm.weight`),
      w(`blk.${l}.attn_q.weight`, qd, s.dim, 0.15),
      w(`blk.${l}.attn_k.weight`, kv, s.dim, 0.15),
      w(`blk.${l}.attn_v.weight`, kv, s.dim, 0.1),
      w(`blk.${l}.attn_output.weight`, s.dim, qd, 0.1),
      norm(`blk.${l}.ffn_norm.weight`),
      w(`blk.${l}.ffn_gate.weight`, s.hiddenDim, s.dim, 0.1),
      w(`blk.${l}.ffn_down.weight`, s.dim, s.hiddenDim, 0.1),
      w(`blk.${l}.ffn_up.weight`, s.hiddenDim, s.dim, 0.1),
    );
  }
  const widths: Record<string, number> = { headSize: s.headSize, qDim: qd, kvDim: kv };
  for (let l = 0; l < s.nLayers; l++) {
    for (const x of row.layer.filter((t) => !t.matrix && !t.name.startsWith('rms'))) {
      const n = widths[x.cols];
      const r = randomF32(n, seed++, x.name.endsWith('norm') ? 0.2 : 0.5);
      tensors.push(f32Tensor(`blk.${l}.${x.gguf}`, 1, n, x.name.endsWith('norm') ? Float32Array.from(r, (v) => 1 + v) : r));
    }
  }
  const kvs: KV[] = [
    ['general.architecture', 'str', row.gguf],
    [key('embedding_length'), 'u32', s.dim],
    [key('feed_forward_length'), 'u32', s.hiddenDim],
    [key('block_count'), 'u32', s.nLayers],
    [key('attention.head_count'), 'u32', s.nHeads],
    [key('attention.head_count_kv'), 'u32', s.nKvHeads],
    [key('context_length'), 'u32', s.contextLength],
    [key('attention.layer_norm_rms_epsilon'), 'f32', 1e-5],
    [key('rope.dimension_count'), 'u32', s.headSize],
    ...(s.headSize !== s.dim / s.nHeads ? ([[key('attention.key_length'), 'u32', s.headSize], [key('attention.value_length'), 'u32', s.headSize]] as KV[]) : []),
    ...opts.vocab,
  ];
  const over = new Map((opts.kvs ?? []).map((k) => [k[0], k]));
  const merged = [...kvs.map((k) => over.get(k[0]) ?? k), ...(opts.kvs ?? []).filter((k) => !kvs.some((x) => x[0] === k[0]))];
  const extra = new Map((opts.tensors ?? []).map((t) => [t.name, t]));
  writeGgufFile(path, merged, [...tensors.map((t) => extra.get(t.name) ?? t), ...(opts.tensors ?? []).filter((t) => !tensors.some((x) => x.name === t.name))]);
}

/** The byte-level BPE tokenizer keys of a llama.cpp GGUF (the l3t fixture carries Llama 3's: tokens, types, merges, chat template). */
export function byteLevelVocabKvs(ggufPath: string): KV[] {
  const file = BinaryFile.open(ggufPath, 'model');
  try {
    const { meta } = readGgufHeader(file);
    const types: [string, KV[1]][] = [
      ['tokenizer.ggml.model', 'str'],
      ['tokenizer.ggml.pre', 'str'],
      ['tokenizer.ggml.tokens', 'str[]'],
      ['tokenizer.ggml.token_type', 'i32[]'],
      ['tokenizer.ggml.merges', 'str[]'],
      ['tokenizer.ggml.bos_token_id', 'u32'],
      ['tokenizer.ggml.eos_token_id', 'u32'],
      ['tokenizer.chat_template', 'str'],
    ];
    return types.filter(([k]) => meta.has(k)).map(([k, t]) => [k, t, meta.get(k)]);
  } finally {
    file.close();
  }
}
