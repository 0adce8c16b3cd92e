/**
 * retro's target-native model file (.rtr): config, tokenizer and tensors in
 * the target's byte order, every tensor aligned for its SIMD loads, so the C
 * engine loads with plain fread. Layout: docs/model-format.md.
 */
import { closeSync, ftruncateSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ByteOrderError, ModelFormatError, UsageError } from '../errors.js';
import { groupsPerRow, kvDim, type Config, type Matrix, type Vocab } from '../reference/model.js';
import { BinaryFile } from './file.js';
import { validateConfig, type MatrixName, type ModelSource, type VectorName } from './source.js';

export const NATIVE = {
  magic: 'RTRO',
  version: 2,
  headerBytes: 128,
  entryBytes: 64,
  nameBytes: 32,
  fileSizeOffset: 88,
  targetIdOffset: 92,
  marker: 0x01020304,
  maxFileBytes: 0x7fffffff, // 32-bit long offsets on the targets
} as const;

export type NativeQuant = 'f32' | 'q8' | 'q4';

/** Kind codes in the header and tensor table. */
const KIND_CODE: Record<NativeQuant, number> = { f32: 0, q8: 1, q4: 2 };
const KIND_OF = ['f32', 'q8', 'q4'] as const;

/** Bytes of a row of values: 4 per f32, 1 per q8, two q4 values per byte (a row starts on a byte). */
export function rowBytes(kind: NativeQuant, cols: number): number {
  return kind === 'f32' ? cols * 4 : kind === 'q8' ? cols : Math.ceil(cols / 2);
}
export type ByteOrder = 'little' | 'big';

/** Tensor names in file order; per-layer tensors repeat once per layer. */
export type NativeTensorName = 'token_embedding' | VectorName | MatrixName | 'rms_final' | 'rope_cos' | 'rope_sin' | 'wcls';

export interface NativeEntry {
  name: NativeTensorName;
  layer: number;
  kind: NativeQuant;
  rows: number;
  cols: number;
  groupSize: number;
  dataOffset: number;
  dataBytes: number;
  scaleOffset: number;
  scaleBytes: number;
}

export interface NativeLayout {
  config: Config;
  quant: NativeQuant;
  groupSize: number;
  alignment: number;
  sharedClassifier: boolean;
  entries: NativeEntry[];
  tokenizerOffset: number;
  tokenizerBytes: number;
  size: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

function tokenizerBytes(v: Vocab): number {
  return v.pieces.reduce((n, p) => n + 8 + p.length, 0);
}

/** Arithmetic the reference runs but the C engine and model.rtr do not carry yet, refused rather than run wrongly. (RoPE frequency factors need nothing: they are in the stored tables.) */
function unsupportedByEngine(c: Config, path: string): void {
  if (c.headSize !== undefined && c.headSize !== c.dim / c.nHeads) {
    throw new UsageError(
      `${path}: the target engine does not implement head size ${c.headSize} apart from dim / heads (${c.dim / c.nHeads}) yet`,
      'run it with retro generate (the TypeScript reference), or use a model without it',
    );
  }
}

/** Where every tensor goes; nothing is read or written yet. */
export function planNative(config: Config, vocab: Vocab, quant: NativeQuant, groupSize: number, alignment: number, sharedClassifier: boolean, path: string): NativeLayout {
  const c = config;
  unsupportedByEngine(c, path);
  const kv = kvDim(c);
  // Each layer's tensors are contiguous, w1 next to w3, so a streaming engine reads a layer (or
  // half of one) in one sequential read. [name, layer, rows, cols, is a big matrix]
  const shapes: [NativeTensorName, number, number, number, boolean][] = [['token_embedding', 0, c.vocabSize, c.dim, true]];
  for (let l = 0; l < c.nLayers; l++) {
    shapes.push(
      ['rms_att', l, 1, c.dim, false],
      ['wq', l, c.dim, c.dim, true],
      ['wk', l, kv, c.dim, true],
      ['wv', l, kv, c.dim, true],
      ['wo', l, c.dim, c.dim, true],
      ['rms_ffn', l, 1, c.dim, false],
      ['w1', l, c.hiddenDim, c.dim, true],
      ['w3', l, c.hiddenDim, c.dim, true],
      ['w2', l, c.dim, c.hiddenDim, true],
    );
  }
  shapes.push(['rms_final', 0, 1, c.dim, false], ['rope_cos', 0, c.seqLen, c.dim / c.nHeads / 2, false], ['rope_sin', 0, c.seqLen, c.dim / c.nHeads / 2, false]);
  if (!sharedClassifier) shapes.push(['wcls', 0, c.vocabSize, c.dim, true]);
  const count = shapes.length;
  const tokenizerOffset = align(NATIVE.headerBytes + count * NATIVE.entryBytes, alignment);
  const tokBytes = tokenizerBytes(vocab);
  let at = align(tokenizerOffset + tokBytes, alignment);
  const entries: NativeEntry[] = [];
  for (const [name, layer, rows, cols, isMatrix] of shapes) {
    const kind: NativeQuant = isMatrix ? quant : 'f32';
    const e: NativeEntry = { name, layer, kind, rows, cols, groupSize: kind === 'f32' ? 0 : groupSize, dataOffset: at, dataBytes: rows * rowBytes(kind, cols), scaleOffset: 0, scaleBytes: 0 };
    at = align(at + e.dataBytes, alignment);
    if (kind !== 'f32') {
      e.scaleOffset = at;
      e.scaleBytes = rows * groupsPerRow(cols, groupSize) * 4;
      at = align(at + e.scaleBytes, alignment);
    }
    entries.push(e);
  }
  if (at > NATIVE.maxFileBytes) {
    throw new ModelFormatError(`${path}: the converted model would be ${at} bytes, over the 2 GB a 32-bit target can seek`, 'quantize with --quant q8 or use a smaller model');
  }
  return { config, quant, groupSize: quant === 'f32' ? 0 : groupSize, alignment, sharedClassifier, entries, tokenizerOffset, tokenizerBytes: tokBytes, size: at };
}

class Encoder {
  readonly buf: Buffer;
  constructor(
    size: number,
    private readonly le: boolean,
  ) {
    this.buf = Buffer.alloc(size);
  }
  u32(at: number, v: number) {
    if (this.le) this.buf.writeUInt32LE(v >>> 0, at);
    else this.buf.writeUInt32BE(v >>> 0, at);
  }
  f32(at: number, v: number) {
    if (this.le) this.buf.writeFloatLE(v, at);
    else this.buf.writeFloatBE(v, at);
  }
}

function f32Bytes(a: Float32Array, order: ByteOrder): Buffer {
  const b = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const hostLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  if ((order === 'little') === hostLE) return b;
  const swapped = Buffer.from(b);
  swapped.swap32();
  return swapped;
}

/** Q4 values two per byte, the even column in the low nibble, as 4-bit two's complement; rows start on a byte. */
function packQ4(q: Int8Array, rows: number, cols: number): Buffer {
  const rb = rowBytes('q4', cols);
  const out = Buffer.alloc(rows * rb);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) out[r * rb + (j >> 1)] |= (q[r * cols + j] & 15) << ((j & 1) * 4);
  }
  return out;
}

function unpackQ4(b: Uint8Array, rows: number, cols: number): Int8Array {
  const rb = rowBytes('q4', cols);
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const v = (b[r * rb + (j >> 1)] >> ((j & 1) * 4)) & 15;
      q[r * cols + j] = v >= 8 ? v - 16 : v;
    }
  }
  return q;
}

/** Writes a native file tensor by tensor to a temporary name; `finish` renames it into place. */
export class NativeWriter {
  private readonly fd: number;
  private readonly tmp: string;
  private next = 0;

  constructor(
    private readonly path: string,
    private readonly layout: NativeLayout,
    private readonly order: ByteOrder,
    targetId: string,
    vocab: Vocab,
  ) {
    this.tmp = `${path}.partial`;
    this.fd = openSync(this.tmp, 'w');
    try {
      this.writeHead(targetId, vocab);
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  private writeHead(targetId: string, vocab: Vocab): void {
    const L = this.layout;
    const c = L.config;
    const h = new Encoder(NATIVE.headerBytes + L.entries.length * NATIVE.entryBytes, this.order === 'little');
    h.buf.write(NATIVE.magic, 0, 'latin1');
    h.u32(4, NATIVE.marker);
    h.u32(8, NATIVE.version);
    h.u32(12, KIND_CODE[L.quant]);
    h.u32(16, L.groupSize);
    h.u32(20, L.alignment);
    [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.seqLen, L.sharedClassifier ? 1 : 0].forEach((v, i) => h.u32(24 + i * 4, v));
    h.f32(56, c.ropeTheta);
    h.f32(60, c.normEps);
    h.u32(64, L.tokenizerOffset);
    h.u32(68, L.tokenizerBytes);
    h.u32(72, vocab.maxTokenLength);
    h.u32(76, vocab.bosId);
    h.u32(80, vocab.eosId);
    h.u32(84, L.entries.length);
    h.u32(NATIVE.fileSizeOffset, L.size);
    h.buf.write(targetId.slice(0, 31), NATIVE.targetIdOffset, 'latin1');
    L.entries.forEach((e, i) => {
      const at = NATIVE.headerBytes + i * NATIVE.entryBytes;
      h.buf.write(e.name, at, 'latin1');
      [KIND_CODE[e.kind], e.rows, e.cols, e.groupSize, e.dataOffset, e.dataBytes, e.scaleOffset, e.scaleBytes].forEach((v, k) => h.u32(at + NATIVE.nameBytes + k * 4, v));
    });
    writeSync(this.fd, h.buf, 0, h.buf.length, 0);
    const t = new Encoder(L.tokenizerBytes, this.order === 'little');
    let at = 0;
    vocab.pieces.forEach((p, i) => {
      t.f32(at, vocab.scores[i]);
      t.u32(at + 4, p.length);
      t.buf.write(p, at + 8, 'latin1');
      at += 8 + p.length;
    });
    writeSync(this.fd, t.buf, 0, t.buf.length, L.tokenizerOffset);
  }

  /** The entry the next `write` expects. */
  peek(): NativeEntry | undefined {
    return this.layout.entries[this.next];
  }

  write(m: Matrix | Float32Array): void {
    const e = this.layout.entries[this.next++];
    if (m instanceof Float32Array) m = { kind: 'f32', rows: 1, cols: m.length, data: m };
    if (m.kind !== e.kind || m.rows !== e.rows || m.cols !== e.cols || (m.kind !== 'f32' && m.groupSize !== e.groupSize)) {
      throw new Error(`native writer: ${e.name}[${e.layer}] got ${m.kind} ${m.rows}x${m.cols}, planned ${e.kind} ${e.rows}x${e.cols}`);
    }
    if (m.kind === 'f32') {
      writeSync(this.fd, f32Bytes(m.data, this.order), 0, e.dataBytes, e.dataOffset);
    } else {
      const values = m.kind === 'q8' ? Buffer.from(m.q.buffer, m.q.byteOffset, m.q.byteLength) : packQ4(m.q, m.rows, m.cols);
      writeSync(this.fd, values, 0, e.dataBytes, e.dataOffset);
      writeSync(this.fd, f32Bytes(m.s, this.order), 0, e.scaleBytes, e.scaleOffset);
    }
  }

  finish(): void {
    if (this.next !== this.layout.entries.length) throw new Error(`native writer: ${this.layout.entries.length - this.next} tensors not written`);
    // Zero-fill the alignment padding after the last tensor: the engine checks the size.
    ftruncateSync(this.fd, this.layout.size);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmp, { force: true });
  }
}

export interface NativeHeader {
  order: ByteOrder;
  targetId: string;
  quant: NativeQuant;
  groupSize: number;
  config: Config;
  sharedClassifier: boolean;
  entries: NativeEntry[];
  tokenizerOffset: number;
  tokenizerBytes: number;
  maxTokenLength: number;
  bosId: number;
  eosId: number;
  size: number;
}

export function isNative(file: BinaryFile): boolean {
  return file.size >= 4 && Buffer.from(file.read(0, 4)).toString('latin1') === NATIVE.magic;
}

/** Reads and checks the header; `expect` refuses a file of the other byte order, naming the target it was made for. */
export function readNativeHeader(file: BinaryFile, expect?: { order: ByteOrder; targetId: string }): NativeHeader {
  const path = file.path;
  if (file.size < NATIVE.headerBytes) throw new ModelFormatError(`${path}: truncated: smaller than the ${NATIVE.headerBytes}-byte header`, 'copy or build the file again');
  const h = Buffer.from(file.read(0, NATIVE.headerBytes));
  const le = h.readUInt32LE(4) === NATIVE.marker;
  if (!le && h.readUInt32BE(4) !== NATIVE.marker) throw new ModelFormatError(`${path}: bad byte-order marker`, 'the file is corrupt; build it again');
  const order: ByteOrder = le ? 'little' : 'big';
  const targetId = h.toString('latin1', NATIVE.targetIdOffset, NATIVE.targetIdOffset + 32).replace(/\0.*$/s, '');
  if (expect && expect.order !== order) {
    throw new ByteOrderError(
      `${path} was built for ${targetId} (${order}-endian), not for ${expect.targetId} (${expect.order}-endian)`,
      `run retro build --target ${expect.targetId}`,
    );
  }
  const u = (at: number) => (le ? h.readUInt32LE(at) : h.readUInt32BE(at));
  const f = (at: number) => (le ? h.readFloatLE(at) : h.readFloatBE(at));
  if (u(8) !== NATIVE.version) throw new ModelFormatError(`${path}: native format version ${u(8)}, this retro reads ${NATIVE.version}`, 'build the file again with this retro');
  const size = u(NATIVE.fileSizeOffset);
  if (size !== file.size) throw new ModelFormatError(`${path}: truncated or padded: header says ${size} bytes, file has ${file.size}`, 'copy the file again in binary mode');
  const config: Config = { dim: u(24), hiddenDim: u(28), nLayers: u(32), nHeads: u(36), nKvHeads: u(40), vocabSize: u(44), seqLen: u(48), ropeTheta: f(56), normEps: f(60) };
  validateConfig(config, path);
  const n = u(84);
  if (n === 0 || NATIVE.headerBytes + n * NATIVE.entryBytes > file.size) throw new ModelFormatError(`${path}: impossible tensor table of ${n} entries`, 'the file is corrupt');
  const t = Buffer.from(file.read(NATIVE.headerBytes, n * NATIVE.entryBytes));
  const tu = (at: number) => (le ? t.readUInt32LE(at) : t.readUInt32BE(at));
  const layers = new Map<string, number>();
  const entries: NativeEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * NATIVE.entryBytes;
    const name = t.toString('latin1', at, at + NATIVE.nameBytes).replace(/\0.*$/s, '') as NativeTensorName;
    const layer = layers.get(name) ?? 0;
    layers.set(name, layer + 1);
    const v = (k: number) => tu(at + NATIVE.nameBytes + k * 4);
    const kind = KIND_OF[v(0)];
    if (!kind) throw new ModelFormatError(`${path}: tensor ${name} has unknown kind ${v(0)}`, 'the file is corrupt or from a newer retro');
    const e: NativeEntry = { name, layer, kind, rows: v(1), cols: v(2), groupSize: v(3), dataOffset: v(4), dataBytes: v(5), scaleOffset: v(6), scaleBytes: v(7) };
    if (e.dataOffset + e.dataBytes > file.size || e.scaleOffset + e.scaleBytes > file.size) throw new ModelFormatError(`${path}: tensor ${name} lies outside the file`, 'the file is corrupt');
    entries.push(e);
  }
  return {
    order,
    targetId,
    quant: KIND_OF[u(12)] ?? 'f32',
    groupSize: u(16),
    config,
    sharedClassifier: u(52) !== 0,
    entries,
    tokenizerOffset: u(64),
    tokenizerBytes: u(68),
    maxTokenLength: u(72),
    bosId: u(76),
    eosId: u(80),
    size,
  };
}

/** A native file as a ModelSource, in either byte order, so the reference can run exactly what a target loads. */
export function openNative(file: BinaryFile): ModelSource {
  const h = readNativeHeader(file);
  const le = h.order === 'little';
  const floats = (offset: number, count: number): Float32Array => {
    const b = Buffer.from(file.read(offset, count * 4));
    if (!le) b.swap32();
    return new Float32Array(b.buffer, b.byteOffset, count).slice();
  };
  const read = (name: NativeTensorName, layer: number): Matrix => {
    const e = h.entries.find((x) => x.name === name && x.layer === layer);
    if (!e) throw new ModelFormatError(`${file.path}: tensor ${name}[${layer}] missing`, 'the file is corrupt');
    if (e.kind === 'f32') return { kind: 'f32', rows: e.rows, cols: e.cols, data: floats(e.dataOffset, e.rows * e.cols) };
    const s = floats(e.scaleOffset, e.scaleBytes / 4);
    if (e.kind === 'q4') return { kind: 'q4', rows: e.rows, cols: e.cols, groupSize: e.groupSize, q: unpackQ4(file.read(e.dataOffset, e.dataBytes), e.rows, e.cols), s };
    return { kind: 'q8', rows: e.rows, cols: e.cols, groupSize: e.groupSize, q: file.readI8(e.dataOffset, e.rows * e.cols), s };
  };
  const tok = Buffer.from(file.read(h.tokenizerOffset, h.tokenizerBytes));
  const pieces: string[] = [];
  const scores = new Float32Array(h.config.vocabSize);
  let at = 0;
  for (let i = 0; i < h.config.vocabSize; i++) {
    scores[i] = le ? tok.readFloatLE(at) : tok.readFloatBE(at);
    const len = le ? tok.readUInt32LE(at + 4) : tok.readUInt32BE(at + 4);
    pieces.push(tok.toString('latin1', at + 8, at + 8 + len));
    at += 8 + len;
  }
  const vector = (name: NativeTensorName, l: number) => (read(name, l) as { data: Float32Array }).data;
  // the engine's own RoPE tables, which carry any frequency scaling the source had
  const config: Config = { ...h.config, ropeTable: { cos: vector('rope_cos', 0), sin: vector('rope_sin', 0) } };
  return {
    path: file.path,
    format: 'retro-native',
    config,
    sharedClassifier: h.sharedClassifier,
    storage: h.quant === 'q8' ? 'q8_0' : h.quant === 'q4' ? 'q4' : 'f32',
    vocab: { pieces, scores, maxTokenLength: h.maxTokenLength, bosId: h.bosId, eosId: h.eosId },
    tokenEmbedding: () => read('token_embedding', 0),
    layerVector: (name, l) => vector(name, l),
    layerMatrix: (name, l) => read(name, l),
    rmsFinal: () => vector('rms_final', 0),
    classifier: () => read(h.sharedClassifier ? 'token_embedding' : 'wcls', 0),
    close: () => file.close(),
  };
}
