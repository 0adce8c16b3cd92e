/**
 * Test-only writers: re-export a model read by retro as llama2.c v1/v2 or GGUF
 * (F32, F16, Q8_0), so every reader path is exercised with real weights.
 */
import { writeFileSync } from 'node:fs';
import { f16ToF32 } from '../../src/model/gguf.js';
import { loadWeights, type ModelSource } from '../../src/model/source.js';
import type { Matrix, Q8Matrix, Vocab, Weights } from '../../src/reference/model.js';

const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function toF32(m: Matrix): Float32Array {
  if (m.kind === 'f32') return m.data;
  throw new Error('expected f32');
}

function layers(w: Weights, pick: (l: Weights['layers'][number]) => Matrix | Float32Array): (Matrix | Float32Array)[] {
  return w.layers.map(pick);
}

function header(src: ModelSource, version: number, shared: boolean, groupSize = 0): Buffer {
  const h = Buffer.alloc(256);
  const c = src.config;
  h.writeUInt32LE(0x616b3432, 0);
  h.writeInt32LE(version, 4);
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.seqLen].forEach((v, i) => h.writeInt32LE(v, 8 + i * 4));
  h.writeUInt8(shared ? 1 : 0, 36);
  if (version === 2) h.writeInt32LE(groupSize, 37);
  return h;
}

export function writeV1(path: string, src: ModelSource): void {
  const w = loadWeights(src);
  const parts: Buffer[] = [header(src, 1, src.sharedClassifier)];
  const push = (a: Matrix | Float32Array) => parts.push(f32(a instanceof Float32Array ? a : toF32(a)));
  layers(w, (l) => l.rmsAtt).forEach(push);
  layers(w, (l) => l.rmsFfn).forEach(push);
  push(w.rmsFinal);
  push(w.tokenEmbedding);
  for (const k of ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const) layers(w, (l) => l[k]).forEach(push);
  if (!src.sharedClassifier) push(w.wcls);
  writeFileSync(path, Buffer.concat(parts));
}

/** Q8 with per-group scales rounded to f16, so the same numbers can be stored in GGUF Q8_0 too. */
export function quantizeQ8(data: Float32Array, rows: number, cols: number, gs: number, f16Scales: boolean): Q8Matrix {
  const q = new Int8Array(rows * cols);
  const groups = Math.ceil(cols / gs);
  const s = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const a = r * cols + g * gs;
      const b = r * cols + Math.min((g + 1) * gs, cols);
      let max = 0;
      for (let i = a; i < b; i++) max = Math.max(max, Math.abs(data[i]));
      let scale = Math.fround(max / 127);
      if (f16Scales) scale = halfToFloat(floatToHalf(scale));
      s[r * groups + g] = scale;
      for (let i = a; i < b; i++) q[i] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(data[i] / scale)));
    }
  }
  return { kind: 'q8', rows, cols, groupSize: gs, q, s };
}

export function writeV2(path: string, src: ModelSource, gs: number, f16Scales: boolean): void {
  const w = loadWeights(src);
  const c = src.config;
  const parts: Buffer[] = [header(src, 2, src.sharedClassifier, gs)];
  layers(w, (l) => l.rmsAtt).forEach((a) => parts.push(f32(a as Float32Array)));
  layers(w, (l) => l.rmsFfn).forEach((a) => parts.push(f32(a as Float32Array)));
  parts.push(f32(w.rmsFinal));
  const pushQ = (m: Matrix) => {
    if (m.kind === 'q4') throw new Error('llama2.c v2 files hold no q4');
    const qm = m.kind === 'q8' ? m : quantizeQ8(m.data, m.rows, m.cols, gs, f16Scales);
    parts.push(Buffer.from(qm.q.buffer, qm.q.byteOffset, qm.q.byteLength), f32(qm.s));
  };
  pushQ(w.tokenEmbedding);
  for (const k of ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const) layers(w, (l) => l[k]).forEach((m) => pushQ(m as Matrix));
  if (!src.sharedClassifier) pushQ(w.wcls);
  writeFileSync(path, Buffer.concat(parts));
}

export function floatToHalf(v: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, v);
  const x = b.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export const halfToFloat = f16ToF32;

type GgufType = 'f32' | 'f16' | 'q8_0';

/** GGUF v3 writer for the llama tensors and vocabulary. */
export function writeGguf(path: string, src: ModelSource, type: GgufType, vocab: Vocab, opts: { contextLength?: number } = {}): void {
  const w = loadWeights(src);
  const c = src.config;
  const kvs: Buffer[] = [];
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([n, b]);
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  const kvU32 = (k: string, v: number) => kvs.push(Buffer.concat([str(k), u32(4), u32(v)]));
  const kvF32 = (k: string, v: number) => {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    kvs.push(Buffer.concat([str(k), u32(6), b]));
  };
  const kvStr = (k: string, v: string) => kvs.push(Buffer.concat([str(k), u32(8), str(v)]));
  kvStr('general.architecture', 'llama');
  kvU32('llama.embedding_length', c.dim);
  kvU32('llama.feed_forward_length', c.hiddenDim);
  kvU32('llama.block_count', c.nLayers);
  kvU32('llama.attention.head_count', c.nHeads);
  kvU32('llama.attention.head_count_kv', c.nKvHeads);
  kvU32('llama.context_length', opts.contextLength ?? c.seqLen);
  kvF32('llama.attention.layer_norm_rms_epsilon', 1e-5);
  kvStr('tokenizer.ggml.model', 'llama');
  const pieceText = (p: string, id: number) => (id === 1 ? '<s>' : id === 2 ? '</s>' : Buffer.from(p, 'latin1').toString('utf8').replaceAll(' ', '\u2581'));
  kvs.push(Buffer.concat([str('tokenizer.ggml.tokens'), u32(9), u32(8), u64(vocab.pieces.length), ...vocab.pieces.map((p, i) => str(pieceText(p, i)))]));
  const scores = Buffer.alloc(vocab.scores.length * 4);
  vocab.scores.forEach((s, i) => scores.writeFloatLE(s, i * 4));
  kvs.push(Buffer.concat([str('tokenizer.ggml.scores'), u32(9), u32(6), u64(vocab.scores.length), scores]));
  const types = Buffer.alloc(vocab.pieces.length * 4);
  vocab.pieces.forEach((_, i) => types.writeInt32LE(i === 1 || i === 2 ? 3 : 1, i * 4));
  kvs.push(Buffer.concat([str('tokenizer.ggml.token_type'), u32(9), u32(5), u64(vocab.pieces.length), types]));
  kvU32('tokenizer.ggml.bos_token_id', 1);
  kvU32('tokenizer.ggml.eos_token_id', 2);

  const tensors: { name: string; rows: number; cols: number; data: Float32Array; type: GgufType }[] = [];
  const add = (name: string, m: Matrix | Float32Array, rows: number, cols: number, isNorm = false) =>
    tensors.push({ name, rows, cols, data: m instanceof Float32Array ? m : toF32(m), type: isNorm ? 'f32' : type });
  add('token_embd.weight', w.tokenEmbedding, c.vocabSize, c.dim);
  add('output_norm.weight', w.rmsFinal, 1, c.dim, true);
  if (!src.sharedClassifier) add('output.weight', w.wcls, c.vocabSize, c.dim);
  const names = { wq: 'attn_q', wk: 'attn_k', wv: 'attn_v', wo: 'attn_output', w1: 'ffn_gate', w2: 'ffn_down', w3: 'ffn_up' } as const;
  w.layers.forEach((l, i) => {
    add(`blk.${i}.attn_norm.weight`, l.rmsAtt, 1, c.dim, true);
    add(`blk.${i}.ffn_norm.weight`, l.rmsFfn, 1, c.dim, true);
    for (const [k, n] of Object.entries(names)) {
      const m = l[k as keyof typeof names];
      add(`blk.${i}.${n}.weight`, m, m.rows, m.cols);
    }
  });
  const encode = (t: (typeof tensors)[number]): Buffer => {
    if (t.type === 'f32') return Buffer.from(f32(t.data));
    if (t.type === 'f16') {
      const b = Buffer.alloc(t.data.length * 2);
      t.data.forEach((v, i) => b.writeUInt16LE(floatToHalf(v), i * 2));
      return b;
    }
    const q = quantizeQ8(t.data, t.rows, t.cols, 32, true);
    if (q.kind !== 'q8') throw new Error('unreachable');
    const blocks = t.data.length / 32;
    const b = Buffer.alloc(blocks * 34);
    for (let i = 0; i < blocks; i++) {
      b.writeUInt16LE(floatToHalf(q.s[i]), i * 34);
      Buffer.from(q.q.buffer, q.q.byteOffset + i * 32, 32).copy(b, i * 34 + 2);
    }
    return b;
  };
  const typeId = { f32: 0, f16: 1, q8_0: 8 };
  const datas = tensors.map(encode);
  const infos: Buffer[] = [];
  let off = 0;
  tensors.forEach((t, i) => {
    infos.push(Buffer.concat([str(t.name), u32(2), u64(t.cols), u64(t.rows), u32(typeId[t.type]), u64(off)]));
    off += Math.ceil(datas[i].length / 32) * 32;
  });
  const head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(kvs.length), ...kvs, ...infos]);
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc(Math.ceil(b.length / 32) * 32 - b.length)]);
  writeFileSync(path, Buffer.concat([pad(head), ...datas.map(pad)]));
}
