/**
 * GGUF v2/v3 with general.architecture = llama: the tensor types of the ggml table (./ggml/types.ts),
 * read one tensor at a time, and the SentencePiece vocabulary from the metadata. Q8_0 stays int8
 * (runq's arithmetic); every other type is dequantized to float32 exactly as ggml does. llama.cpp's
 * converters store Q/K in the interleaved RoPE order llama2.c uses, so no un-permuting is done.
 */
import { ModelFormatError, TokenizerError } from '../errors.js';
import { headSize, qDim, type Config, type F32Matrix, type Matrix, type Vocab } from '../reference/model.js';
import { findArch, GLOBAL_TENSORS, pairRows, shapeOf, withArch, type Architecture } from './arch.js';
import type { BinaryFile } from './file.js';
import { dequantizeGgml, f16ToF32, GGML_TYPES, ggmlBytes, ggmlType, ggmlTypeName, type GgmlType } from './ggml/types.js';
import { ggufVocab } from './gguf-vocab.js';
import { validateConfig, type MatrixName, type ModelSource, type TokenizerInfo, type VectorName } from './source.js';
export { findArch } from './arch.js';

export { f16ToF32 } from './ggml/types.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian

const GGML_Q8_0 = 8;
const Q8_0_BLOCK = 32;
const MAX_ALIGNMENT = 1 << 16;

/** A name or key from the file as an error shows it: printable ASCII, at most 64 characters; raw bytes are never echoed. */
export function shown(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > 64 ? `${clean.slice(0, 64)}...` : clean);
}

/** Tensors of features retro does not run, refused by the feature's name rather than run wrongly. */
const UNIMPLEMENTED: [RegExp, string][] = [
  [/\.bias$/, 'bias vectors'],
  [/attn_[qk]_norm/, 'QK-norm'],
  [/_exps?\.|ffn_gate_inp/, 'mixture of experts'],
  [/attn_qkv|ffn_up_gate/, 'fused QKV / gate-up tensors'],
  [/post_(attention|ffw)_norm|attn_post_norm|ffn_post_norm/, 'post-norms'],
];
/** The tensor names a row's GGUF has (besides rope_freqs, Llama 3's RoPE factors). */
function knownTensor(a: Architecture): RegExp {
  const esc = (n: string) => n.replace(/\./g, '\\.');
  const g = GLOBAL_TENSORS;
  return new RegExp(`^(${[g.embedding, g.finalNorm, g.classifier].map((x) => esc(x.gguf)).join('|')}|rope_freqs\\.weight)$|^blk\\.\\d+\\.(${a.layer.map((x) => esc(x.gguf)).join('|')})$`);
}

export type Value = number | bigint | boolean | string | Value[];

export interface TensorInfo {
  name: string;
  dims: number[]; // ne[0] first: the row length
  type: number;
  offset: number; // from the start of the data section
}

/** Sequential reader over the metadata, pulling chunks from the file as needed. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  pos = 0;
  constructor(private readonly file: BinaryFile) {}

  private need(n: number): DataView {
    if (this.pos + n > this.file.size) {
      throw new ModelFormatError(`${this.file.path}: truncated GGUF metadata at byte ${this.pos}`, 'the file is incomplete; download it again');
    }
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 16), this.file.size - this.pos);
      this.buf = this.file.read(this.pos, len);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return new DataView(this.buf.buffer, this.buf.byteOffset + at, n);
  }
  u8 = () => this.need(1).getUint8(0);
  i8 = () => this.need(1).getInt8(0);
  u16 = () => this.need(2).getUint16(0, true);
  i16 = () => this.need(2).getInt16(0, true);
  u32 = () => this.need(4).getUint32(0, true);
  i32 = () => this.need(4).getInt32(0, true);
  f32 = () => this.need(4).getFloat32(0, true);
  f64 = () => this.need(8).getFloat64(0, true);
  u64 = () => this.need(8).getBigUint64(0, true);
  i64 = () => this.need(8).getBigInt64(0, true);
  /** A u64 count or size, refused when it cannot fit in the rest of the file. */
  count(what: string, minBytesEach: number): number {
    const v = this.u64();
    if (v * BigInt(Math.max(minBytesEach, 1)) > BigInt(this.file.size - this.pos)) {
      throw new ModelFormatError(`${this.file.path}: corrupt GGUF: ${what} of ${v} does not fit in the file`, 'the file is corrupt or truncated');
    }
    return Number(v);
  }
  str(): string {
    const n = this.count('string length', 1);
    const v = this.need(n);
    return Buffer.from(v.buffer, v.byteOffset, n).toString('utf8');
  }
  bytesOfString(): Uint8Array {
    const n = this.count('string length', 1);
    const v = this.need(n);
    return new Uint8Array(v.buffer, v.byteOffset, n).slice();
  }
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 10: 8, 11: 8, 12: 8 };

function readValue(c: Cursor, type: number, path: string): Value {
  switch (type) {
    case 0: return c.u8();
    case 1: return c.i8();
    case 2: return c.u16();
    case 3: return c.i16();
    case 4: return c.u32();
    case 5: return c.i32();
    case 6: return c.f32();
    case 7: return c.u8() !== 0;
    case 8: return c.str();
    case 9: {
      const et = c.u32();
      // llama metadata has flat arrays only; nesting would let a file drive the recursion as deep as it likes.
      if (et === 9) throw new ModelFormatError(`${path}: corrupt GGUF: an array of arrays in the metadata`, 'the file is corrupt or not a llama GGUF');
      const n = c.count('array length', SCALAR_SIZE[et] ?? 1);
      const out: Value[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, et, path);
      return out;
    }
    case 10: return c.u64();
    case 11: return c.i64();
    case 12: return c.f64();
    default:
      throw new ModelFormatError(`${path}: corrupt GGUF: unknown metadata value type ${type}`, 'the file is corrupt');
  }
}

export interface GgufHeader {
  meta: Map<string, Value>;
  tensors: Map<string, TensorInfo>;
  dataStart: number; // absolute offset of the tensor data section
  alignment: number;
}

/** The metadata and tensor table of any GGUF v2/v3, whatever its architecture. */
export function readGgufHeader(file: BinaryFile): GgufHeader {
  const path = file.path;
  const c = new Cursor(file);
  c.u32();
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    throw new ModelFormatError(`${path}: GGUF version ${version} is not supported (2 and 3 are)`, 'convert the model with a current llama.cpp');
  }
  const nTensors = c.count('tensor count', 24);
  const nKv = c.count('metadata count', 12);
  const meta = new Map<string, Value>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str();
    if (meta.has(key)) throw new ModelFormatError(`${path}: corrupt GGUF: metadata key ${shown(key)} appears twice`, 'the file is corrupt');
    meta.set(key, readValue(c, c.u32(), path));
  }
  const tensors = new Map<string, TensorInfo>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.str();
    const nd = c.u32();
    if (nd < 1 || nd > 4) throw new ModelFormatError(`${path}: corrupt GGUF: tensor ${shown(name)} has ${nd} dimensions`, 'the file is corrupt');
    if (tensors.has(name)) throw new ModelFormatError(`${path}: corrupt GGUF: tensor ${shown(name)} appears twice`, 'the file is corrupt');
    const dims: number[] = [];
    for (let d = 0; d < nd; d++) dims.push(Number(c.u64()));
    tensors.set(name, { name, dims, type: c.u32(), offset: Number(c.u64()) });
  }
  const alignment = meta.get('general.alignment') ?? 32;
  if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment < 1 || alignment > MAX_ALIGNMENT || (alignment & (alignment - 1)) !== 0) {
    throw new ModelFormatError(`${path}: corrupt GGUF: general.alignment is not a power of two in 1..${MAX_ALIGNMENT}`, 'the file is corrupt');
  }
  return { meta, tensors, alignment, dataStart: Math.ceil(c.pos / alignment) * alignment };
}

export function openGguf(file: BinaryFile): ModelSource {
  const path = file.path;
  const { meta, tensors, dataStart, alignment } = readGgufHeader(file);
  const arch = findArch(meta.get('general.architecture'), 'gguf', path);
  const known = knownTensor(arch);
  for (const name of tensors.keys()) {
    if (known.test(name)) continue;
    const feature = UNIMPLEMENTED.find(([re]) => re.test(name));
    throw new ModelFormatError(
      `${path}: tensor ${shown(name)} ${feature ? `means ${feature[1]}, which retro does not implement for ${arch.gguf}` : `is not part of the ${arch.gguf} layers retro runs`}`,
      `use a plain ${arch.gguf}-architecture model (src/model/arch.ts lists each family's tensors)`,
    );
  }
  const key = (k: string) => `${arch.gguf}.${k}`;
  const num = (key: string, fallback?: number): number => {
    const v = meta.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'bigint') return Number(v);
    throw new ModelFormatError(`${path}: GGUF metadata ${key} is missing or not a number`, 'the file is not a complete llama GGUF');
  };
  const refuse = (what: string) => new ModelFormatError(`${path}: ${what}, which retro does not implement`, 'use a plain Llama-architecture model');
  const scaling = meta.get(key('rope.scaling.type'));
  if (scaling !== undefined && scaling !== 'none') throw refuse(`RoPE scaling ${JSON.stringify(scaling)}`);
  if (num(key('expert_count'), 0) > 0) throw refuse(`${num(key('expert_count'))} experts (mixture of experts)`);
  const tokens = meta.get('tokenizer.ggml.tokens');
  const emb = tensors.get('token_embd.weight');
  const nHeads = num(key('attention.head_count'));
  const dim = num(key('embedding_length'));
  const keyLength = num(key('attention.key_length'), dim / nHeads);
  if (num(key('attention.value_length'), keyLength) !== keyLength) {
    throw refuse(`value head size ${num(key('attention.value_length'))} different from key head size ${keyLength}`);
  }
  if (num(key('rope.dimension_count'), keyLength) !== keyLength) {
    throw refuse(`RoPE on ${num(key('rope.dimension_count'))} of ${keyLength} head dimensions (partial rotary)`);
  }
  const config: Config = {
    dim,
    hiddenDim: num(key('feed_forward_length')),
    nLayers: num(key('block_count')),
    nHeads,
    nKvHeads: num(key('attention.head_count_kv'), nHeads),
    vocabSize: Array.isArray(tokens) ? tokens.length : emb ? emb.dims[1] ?? 0 : 0,
    seqLen: num(key('context_length')),
    ropeTheta: num(key('rope.freq_base'), 10000),
    normEps: num(key('attention.layer_norm_rms_epsilon'), 1e-5),
    ...(keyLength !== dim / nHeads ? { headSize: keyLength } : {}),
  };
  Object.assign(config, withArch(config, arch));
  validateConfig(config, path);
  const qd = qDim(config);
  const shared = !tensors.has('output.weight');

  // Every tensor we use must exist, have the expected shape, a supported type and lie inside the file.
  const typeOf = (t: TensorInfo): GgmlType => ggmlType(t.type, `${path}: tensor ${t.name}`);
  const expect = (name: string, rows: number, cols: number): TensorInfo => {
    const t = tensors.get(name);
    if (!t) throw new ModelFormatError(`${path}: GGUF tensor ${name} is missing`, 'the file is not a complete llama model');
    const tr = t.dims[1] ?? 1;
    if (t.dims[0] !== cols || tr !== rows || t.dims.slice(2).some((d) => d !== 1)) {
      throw new ModelFormatError(`${path}: tensor ${name} is ${tr}x${t.dims[0]}, expected ${rows}x${cols}`, 'the file is corrupt or its metadata does not match');
    }
    const type = typeOf(t);
    if (cols % type.blockSize !== 0) {
      throw new ModelFormatError(`${path}: ${type.name} tensor ${name} has rows of ${cols}, not a multiple of ${type.blockSize}`, 'the file is corrupt');
    }
    const end = dataStart + t.offset + ggmlBytes(type, rows * cols);
    if (end > file.size) {
      throw new ModelFormatError(`${path}: truncated: tensor ${name} ends at byte ${end}, file has ${file.size}`, 'the file is incomplete; download it again');
    }
    return t;
  };
  const names: [string, number, number][] = [
    ['token_embd.weight', config.vocabSize, config.dim],
    ['output_norm.weight', 1, config.dim],
  ];
  if (!shared) names.push(['output.weight', config.vocabSize, config.dim]);
  if (tensors.has('rope_freqs.weight')) names.push(['rope_freqs.weight', 1, qd / config.nHeads / 2]);
  for (let l = 0; l < config.nLayers; l++) for (const x of arch.layer) names.push([`blk.${l}.${x.gguf}`, ...shapeOf(x, config)]);
  const infos = new Map(names.map(([n, r, k]) => [n, expect(n, r, k)]));
  checkLayout(tensors, config.nLayers, dataStart, alignment, file.size, path);
  const types = new Set([...infos.values()].filter((t) => (t.dims[1] ?? 1) > 1).map((t) => t.type));

  // Rows [row0, row0 + count) of a tensor: whole blocks, since every row is (checked above).
  const readMatrix = (name: string, row0 = 0, count?: number): Matrix => {
    const t = infos.get(name)!;
    const cols = t.dims[0];
    const rows = count ?? t.dims[1] ?? 1;
    const n = rows * cols;
    const type = typeOf(t);
    const raw = file.read(dataStart + t.offset + ggmlBytes(type, row0 * cols), ggmlBytes(type, n));
    if (t.type !== GGML_Q8_0) return { kind: 'f32', rows, cols, data: dequantizeGgml(type, raw, n) };
    const blocks = n / Q8_0_BLOCK;
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const q = new Int8Array(n);
    const s = new Float32Array(blocks);
    for (let b = 0; b < blocks; b++) {
      s[b] = f16ToF32(v.getUint16(b * 34, true));
      q.set(new Int8Array(raw.buffer, raw.byteOffset + b * 34 + 2, Q8_0_BLOCK), b * Q8_0_BLOCK);
    }
    return { kind: 'q8', rows, cols, groupSize: Q8_0_BLOCK, q, s };
  };
  const readVector = (name: string): Float32Array => {
    const m = readMatrix(name);
    if (m.kind !== 'f32') throw new ModelFormatError(`${path}: norm tensor ${name} is quantized`, 'norms must be F32 or F16');
    return m.data;
  };
  // A layer tensor by its model.rtr name; rows the family stores as two halves per head come back in pairs.
  const byName = new Map(arch.layer.map((x) => [x.name, x]));
  const hs = headSize(config);
  const readLayer = (name: MatrixName | VectorName, l: number, row0 = 0, rows?: number): Matrix => {
    const x = byName.get(name)!;
    const tn = `blk.${l}.${x.gguf}`;
    const m: Matrix = x.matrix ? readMatrix(tn, row0, rows) : { kind: 'f32', rows: 1, cols: shapeOf(x, config)[1], data: readVector(tn) };
    return x.ropeRows && arch.ggufRope === 'halves' ? pairRows(m, hs) : m;
  };
  if (infos.has('rope_freqs.weight')) {
    config.ropeFreqFactors = readVector('rope_freqs.weight');
    validateConfig(config, path);
  }

  return {
    path,
    format: 'gguf',
    config,
    sharedClassifier: shared,
    storage: types.size > 1 ? 'mixed' : ggmlTypeName([...types][0]).toLowerCase(),
    // Read when asked for, so a model whose tokenizer retro cannot read still runs with --tokenizer or from token ids.
    get vocab() {
      return ggufVocab(meta, config.vocabSize, path);
    },
    tokenizer: ggufTokenizerInfo(meta),
    tensors: [...tensors.values()].map((t) => ({
      name: t.name,
      type: ggmlTypeName(t.type),
      shape: [...t.dims].reverse(),
      bytes: ggmlBytes(typeOf(t), t.dims.reduce((a, b) => a * b, 1)),
    })),
    tokenEmbedding: () => readMatrix('token_embd.weight'),
    layerVector: (name: VectorName, l: number) => (readLayer(name, l) as F32Matrix).data,
    layerMatrix: (name: MatrixName, l: number) => readLayer(name, l),
    rmsFinal: () => readVector('output_norm.weight'),
    classifier: () => readMatrix(shared ? 'token_embd.weight' : 'output.weight'),
    readRows: (name, l, row0, rows) =>
      name === 'token_embedding' || name === 'classifier' ? readMatrix(name === 'token_embedding' || shared ? 'token_embd.weight' : 'output.weight', row0, rows) : readLayer(name, l, row0, rows),
    close: () => file.close(),
  };
}

/**
 * llama.cpp writes tensor data back to back in offset order, each at the next aligned offset, the
 * last one ending the file. Anything else (overlapping, misaligned or gapped offsets, a type
 * changed to one of another size, layers beyond block_count) is a damaged or doctored file.
 */
function checkLayout(tensors: Map<string, TensorInfo>, nLayers: number, dataStart: number, alignment: number, fileSize: number, path: string): void {
  const corrupt = (what: string) => new ModelFormatError(`${path}: corrupt GGUF: ${what}`, 'the file is damaged or was edited; download or convert it again');
  let end = 0;
  for (const t of [...tensors.values()].sort((a, b) => a.offset - b.offset)) {
    const layer = /^blk\.(\d+)\./.exec(t.name);
    if (layer && Number(layer[1]) >= nLayers) throw corrupt(`tensor ${shown(t.name)} is beyond llama.block_count ${nLayers}`);
    const type = GGML_TYPES.find((x) => x.id === t.type);
    if (!type) throw corrupt(`tensor ${shown(t.name)} has unknown type ${t.type}`);
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(n) || n % type.blockSize !== 0) throw corrupt(`tensor ${shown(t.name)} has ${n} values, not whole blocks of its type`);
    const at = Math.ceil(end / alignment) * alignment;
    if (t.offset !== at) throw corrupt(`tensor ${shown(t.name)} starts at ${t.offset}, not at ${at} where the tensor before it ends (overlapping, misaligned or retyped tensors)`);
    end = at + ggmlBytes(type, n);
  }
  if (dataStart + end !== fileSize) throw corrupt(`the tensors end at byte ${dataStart + end}, the file has ${fileSize}`);
}
function ggufSpecialIds(meta: Map<string, Value>): { bosId: number; eosId: number; eotId?: number } {
  const id = (k: string) => (meta.has(`tokenizer.ggml.${k}_token_id`) ? Number(meta.get(`tokenizer.ggml.${k}_token_id`)) : undefined);
  const eotId = id('eot');
  return { bosId: id('bos') ?? 1, eosId: id('eos') ?? 2, ...(eotId !== undefined ? { eotId } : {}) };
}

function ggufTokenizerInfo(meta: Map<string, Value>): TokenizerInfo | undefined {
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens)) return undefined;
  return { kind: String(meta.get('tokenizer.ggml.model')), size: tokens.length, chatTemplate: meta.has('tokenizer.chat_template'), ...ggufSpecialIds(meta) };
}
