/**
 * retro's target-native model file (.rtr): config, tokenizer and tensors in
 * the target's byte order, every tensor aligned for its SIMD loads, so the C
 * engine loads with plain fread. Layout: docs/model-format.md.
 */
import { closeSync, ftruncateSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ByteOrderError, ModelFormatError } from '../errors.js';
import { isIntKind, kindOfCode, quantKind, storedCols, type QuantKind } from '../quant/kinds.js';
import { KV_CACHE_KINDS, headSize, kvCacheKind, type Config, type IntMatrix, type Matrix, type Vocab } from '../reference/model.js';
import { BinaryFile } from './file.js';
import { PRE_TOKENIZERS } from '../reference/pretokenize.js';
import { categoryRuns } from '../reference/unicode.js';
import { JOINT_KEYS, type ChatJoints } from '../reference/chat.js';
import { ENTRY_FIELDS, HEADER_FIELDS, MERGE_BYTES, NATIVE, TOKENIZER_KINDS, chatSection, headerField, layoutFor, tokenizerParts, type Field, type NativeEntry, type NativeLayout, type NativeTensorName } from './format.js';
import { ARCHITECTURES, archByCode, archOf, withArch } from './arch.js';
import { validateConfig, type ModelSource } from './source.js';

export { NATIVE, planNative, type NativeEntry, type NativeLayout } from './format.js';

export type ByteOrder = 'little' | 'big';

type Values<K extends string> = Record<K, number | string>;

/** Writes fields of a format table into buf at `base`, numbers in the given byte order. */
function encodeFields<K extends string>(buf: Buffer, base: number, fields: Field<K>[], values: Values<K>, le: boolean): void {
  for (const f of fields) {
    const v = values[f.key];
    const at = base + f.offset;
    if (f.type === 'bytes') buf.write(String(v).slice(0, f.bytes - (f.bytes > 4 ? 1 : 0)), at, 'latin1');
    else if (f.type === 'f32') (le ? buf.writeFloatLE(Number(v), at) : buf.writeFloatBE(Number(v), at));
    else (le ? buf.writeUInt32LE(Number(v) >>> 0, at) : buf.writeUInt32BE(Number(v) >>> 0, at));
  }
}

function decodeFields<K extends string>(buf: Buffer, base: number, fields: Field<K>[], le: boolean): Values<K> {
  const out = {} as Values<K>;
  for (const f of fields) {
    const at = base + f.offset;
    out[f.key] = f.type === 'bytes' ? buf.toString('latin1', at, at + f.bytes).replace(/\0.*$/s, '') : f.type === 'f32' ? (le ? buf.readFloatLE(at) : buf.readFloatBE(at)) : le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  }
  return out;
}

function f32Bytes(a: Float32Array, order: ByteOrder): Buffer {
  const b = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const hostLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  if ((order === 'little') === hostLE) return b;
  const swapped = Buffer.from(b);
  swapped.swap32();
  return swapped;
}

/** Writes a native file tensor by tensor to a temporary name; `finish` renames it into place. */
export class NativeWriter {
  private readonly fd: number;
  private readonly tmp: string;
  private next = 0;
  private rowsDone = 0;

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
    const le = this.order === 'little';
    const h = Buffer.alloc(NATIVE.headerBytes + L.entries.length * NATIVE.entryBytes);
    const parts = tokenizerParts(vocab);
    encodeFields(
      h,
      0,
      HEADER_FIELDS,
      {
        magic: NATIVE.magic,
        marker: NATIVE.marker,
        version: NATIVE.version,
        quant: quantKind(L.quant).code,
        groupSize: L.groupSize,
        alignment: L.alignment,
        dim: c.dim,
        hiddenDim: c.hiddenDim,
        nLayers: c.nLayers,
        nHeads: c.nHeads,
        nKvHeads: c.nKvHeads,
        vocabSize: c.vocabSize,
        seqLen: c.seqLen,
        sharedClassifier: L.sharedClassifier ? 1 : 0,
        ropeTheta: c.ropeTheta,
        normEps: c.normEps,
        tokenizerOffset: L.tokenizerOffset,
        tokenizerBytes: L.tokenizerBytes,
        maxTokenLength: vocab.maxTokenLength,
        bosId: vocab.bosId,
        eosId: vocab.eosId,
        tensorCount: L.entries.length,
        fileSize: L.size,
        targetId,
        tokenizerKind: vocab.byteLevel ? 1 : 0,
        preTokenizer: vocab.byteLevel ? PRE_TOKENIZERS.indexOf(vocab.byteLevel.pre) + 1 : 0,
        ignoreMerges: vocab.byteLevel?.ignoreMerges ? 1 : 0,
        addBos: vocab.addBos === false ? 0 : 1,
        eotId: vocab.eotId ?? vocab.eosId,
        mergeCount: parts.merges,
        specialCount: parts.specials,
        categoryRunCount: parts.runs,
        chatBytes: parts.chat,
        chatTrim: vocab.chat?.trim ? 1 : 0,
        headSize: headSize(c),
        kvCache: KV_CACHE_KINDS.indexOf(kvCacheKind(c)),
        arch: archOf(c).code,
      },
      le,
    );
    L.entries.forEach((e, i) => encodeFields(h, NATIVE.headerBytes + i * NATIVE.entryBytes, ENTRY_FIELDS, { ...e, kind: quantKind(e.kind).code }, le));
    writeSync(this.fd, h, 0, h.length, 0);
    const t = Buffer.alloc(L.tokenizerBytes);
    let at = 0;
    vocab.pieces.forEach((p, i) => {
      if (le) t.writeFloatLE(vocab.scores[i], at);
      else t.writeFloatBE(vocab.scores[i], at);
      if (le) t.writeUInt32LE(p.length, at + 4);
      else t.writeUInt32BE(p.length, at + 4);
      t.write(p, at + 8, 'latin1');
      at += 8 + p.length;
    });
    const put = (v: number) => {
      if (le) t.writeUInt32LE(v, at);
      else t.writeUInt32BE(v, at);
      at += 4;
    };
    for (const m of sortedMerges(vocab)) m.forEach(put);
    for (const id of specialOrder(vocab)) put(id);
    if (parts.runs) (vocab.byteLevel!.runs ?? categoryRuns()).forEach(put);
    chatSection(vocab, le).copy(t, at);
    writeSync(this.fd, t, 0, t.length, L.tokenizerOffset);
  }

  /** The entry the next `write` expects. */
  peek(): NativeEntry | undefined {
    return this.layout.entries[this.next];
  }

  /** The next entry, whole, or its rows from `row0` on: a matrix may come in chunks of rows, in order. */
  write(m: Matrix | Float32Array, row0 = 0): void {
    const e = this.layout.entries[this.next];
    if (m instanceof Float32Array) m = { kind: 'f32', rows: 1, cols: m.length, data: m };
    if (!e || row0 !== this.rowsDone || m.kind !== e.kind || row0 + m.rows > e.rows || m.cols !== e.cols || (m.kind !== 'f32' && m.groupSize !== e.groupSize)) {
      throw new Error(`native writer: ${e?.name}[${e?.layer}] got ${m.kind} ${m.rows}x${m.cols} at row ${row0}, planned ${e?.kind} ${e?.rows}x${e?.cols} at row ${this.rowsDone}`);
    }
    // rows are whole bytes and scales restart at each row, so a chunk is a contiguous slice of both
    const data = m.rows * (e.dataBytes / e.rows);
    if (m.kind === 'f32') {
      writeSync(this.fd, f32Bytes(m.data, this.order), 0, data, e.dataOffset + row0 * (e.dataBytes / e.rows));
    } else {
      const scales = m.rows * (e.scaleBytes / e.rows);
      writeSync(this.fd, quantKind(m.kind).pack!(m as IntMatrix, storedCols(m.kind, m.cols, m.groupSize)), 0, data, e.dataOffset + row0 * (e.dataBytes / e.rows));
      writeSync(this.fd, f32Bytes(m.s, this.order), 0, scales, e.scaleOffset + row0 * (e.scaleBytes / e.rows));
    }
    this.rowsDone += m.rows;
    if (this.rowsDone === e.rows) {
      this.next++;
      this.rowsDone = 0;
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

/** Merge records [left, right, rank, merged id], sorted by (left, right) for the engine's binary search. */
function sortedMerges(vocab: Vocab): number[][] {
  const m = vocab.byteLevel?.merges;
  if (!m) return [];
  const ids = new Map<string, number>();
  vocab.pieces.forEach((p, id) => {
    if (!ids.has(p)) ids.set(p, id);
  });
  const out: number[][] = [];
  for (let r = 0; r < m.length / 2; r++) out.push([m[2 * r], m[2 * r + 1], r, ids.get(vocab.pieces[m[2 * r]] + vocab.pieces[m[2 * r + 1]])!]);
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
}

/** Special tokens in the order they are tried: longest first, ties by id. */
function specialOrder(vocab: Vocab): number[] {
  return [...(vocab.specials ?? [])].sort((a, b) => vocab.pieces[b].length - vocab.pieces[a].length || a - b);
}

export interface NativeHeader {
  order: ByteOrder;
  targetId: string;
  quant: QuantKind;
  groupSize: number;
  config: Config;
  sharedClassifier: boolean;
  entries: NativeEntry[];
  tokenizerOffset: number;
  tokenizerBytes: number;
  maxTokenLength: number;
  bosId: number;
  eosId: number;
  eotId: number;
  tokenizerKind: number;
  preTokenizer: number;
  ignoreMerges: boolean;
  addBos: boolean;
  mergeCount: number;
  specialCount: number;
  categoryRunCount: number;
  chatBytes: number;
  chatTrim: boolean;
  size: number;
}

export function isNative(file: BinaryFile): boolean {
  return file.size >= 4 && Buffer.from(file.read(0, 4)).toString('latin1') === NATIVE.magic;
}

/** Reads and checks the header; `expect` refuses a file of the other byte order, naming the target it was made for. */
export function readNativeHeader(file: BinaryFile, expect?: { order: ByteOrder; targetId: string }): NativeHeader {
  const path = file.path;
  if (file.size < NATIVE.headerBytes) throw new ModelFormatError(`${path}: truncated: smaller than the ${NATIVE.headerBytes}-byte header`, 'copy or build the file again');
  const buf = Buffer.from(file.read(0, NATIVE.headerBytes));
  const markerAt = headerField('marker').offset;
  const le = buf.readUInt32LE(markerAt) === NATIVE.marker;
  if (!le && buf.readUInt32BE(markerAt) !== NATIVE.marker) throw new ModelFormatError(`${path}: bad byte-order marker`, 'the file is corrupt; build it again');
  const order: ByteOrder = le ? 'little' : 'big';
  const h = decodeFields(buf, 0, HEADER_FIELDS, le);
  const targetId = String(h.targetId);
  if (expect && expect.order !== order) {
    throw new ByteOrderError(
      `${path} was built for ${targetId} (${order}-endian), not for ${expect.targetId} (${expect.order}-endian)`,
      `run retro build --target ${expect.targetId}`,
    );
  }
  const u = (k: keyof typeof h) => Number(h[k]);
  const corrupt = (what: string) => new ModelFormatError(`${path}: ${what}`, 'the file is corrupt or not made by this retro; build it again');
  if (u('version') !== NATIVE.version) throw new ModelFormatError(`${path}: native format version ${u('version')}, this retro reads ${NATIVE.version}`, 'build the file again with this retro');
  if (u('fileSize') !== file.size) throw new ModelFormatError(`${path}: truncated or padded: header says ${u('fileSize')} bytes, file has ${file.size}`, 'copy the file again in binary mode');
  const config: Config = { dim: u('dim'), hiddenDim: u('hiddenDim'), nLayers: u('nLayers'), nHeads: u('nHeads'), nKvHeads: u('nKvHeads'), vocabSize: u('vocabSize'), seqLen: u('seqLen'), ropeTheta: u('ropeTheta'), normEps: u('normEps') };
  // Set only when it differs, so a file's config equals its source's.
  if (u('headSize') !== config.dim / config.nHeads) config.headSize = u('headSize');
  validateConfig(config, path);
  const kvCache = KV_CACHE_KINDS[u('kvCache')];
  if (!kvCache) throw corrupt(`header field kvCache: ${u('kvCache')} (must be below ${KV_CACHE_KINDS.length})`);
  if (kvCache !== 'f32') config.kvCache = kvCache;
  const arch = archByCode(u('arch'));
  if (!arch) throw corrupt(`header field arch: ${u('arch')} is not a family this retro runs (${ARCHITECTURES.map((a) => `${a.code} = ${a.name}`).join(', ')})`);
  Object.assign(config, withArch(config, arch));
  const quant = kindOfCode(u('quant'));
  if (!quant) throw corrupt(`header field quant: unknown quantization kind ${u('quant')}`);
  const groupSize = u('groupSize');
  if (isIntKind(quant.name) ? groupSize < 1 || groupSize > 4096 : groupSize !== 0) throw corrupt(`header field groupSize: ${groupSize} (must be 1..4096 for ${quant.name}, 0 for f32)`);
  const alignment = u('alignment');
  if (alignment < 8 || alignment > 4096 || (alignment & (alignment - 1)) !== 0) throw corrupt(`header field alignment: ${alignment} is not a power of two in 8..4096`);
  if (u('sharedClassifier') > 1) throw corrupt(`header field sharedClassifier: ${u('sharedClassifier')} (must be 0 or 1)`);
  const maxTokenLength = u('maxTokenLength');
  if (maxTokenLength < 1 || maxTokenLength > 4096) throw corrupt(`header field maxTokenLength: ${maxTokenLength} (must be 1..4096)`);
  if (u('tokenizerKind') >= TOKENIZER_KINDS.length) throw corrupt(`header field tokenizerKind: ${u('tokenizerKind')} (must be below ${TOKENIZER_KINDS.length})`);
  const byteLevel = u('tokenizerKind') === 1;
  if (byteLevel ? u('preTokenizer') < 1 || u('preTokenizer') > PRE_TOKENIZERS.length : u('preTokenizer') !== 0) throw corrupt(`header field preTokenizer: ${u('preTokenizer')} (1..${PRE_TOKENIZERS.length} for byte-level, 0 otherwise)`);
  for (const k of ['ignoreMerges', 'addBos'] as const) if (u(k) > 1) throw corrupt(`header field ${k}: ${u(k)} (must be 0 or 1)`);
  if (u('chatTrim') > 1) throw corrupt(`header field chatTrim: ${u('chatTrim')} (must be 0 or 1)`);
  if (!byteLevel) for (const k of ['mergeCount', 'categoryRunCount'] as const) if (u(k) !== 0) throw corrupt(`header field ${k}: ${u(k)} (must be 0 for a SentencePiece tokenizer)`);
  if (u('mergeCount') > 0x7fffffff / MERGE_BYTES || u('specialCount') > config.vocabSize || u('categoryRunCount') > 0x110000) throw corrupt('header fields mergeCount, specialCount, categoryRunCount: more than the file can hold');
  for (const k of ['bosId', 'eosId', 'eotId'] as const) if (u(k) >= config.vocabSize) throw corrupt(`header field ${k}: ${u(k)} is not below the vocabulary of ${config.vocabSize}`);
  // Everything else follows from these: the layout the writer produces, entry by entry, before any tensor is read.
  const sharedClassifier = u('sharedClassifier') === 1;
  let want: NativeLayout;
  try {
    want = layoutFor(config, u('tokenizerBytes'), quant.name, groupSize, alignment, sharedClassifier, path);
  } catch (e) {
    if (e instanceof ModelFormatError) throw corrupt(`its header describes a model over the 2 GB a model.rtr may hold`);
    throw e;
  }
  const n = u('tensorCount');
  if (n !== want.entries.length) throw corrupt(`header field tensorCount: ${n}, the header's shape has ${want.entries.length} tensors`);
  if (u('tokenizerOffset') !== want.tokenizerOffset) throw corrupt(`header field tokenizerOffset: ${u('tokenizerOffset')}, expected ${want.tokenizerOffset}`);
  if (want.size !== file.size) throw corrupt(`the header's shape needs a file of ${want.size} bytes, not ${file.size}`);
  const table = Buffer.from(file.read(NATIVE.headerBytes, n * NATIVE.entryBytes));
  const entries: NativeEntry[] = [];
  want.entries.forEach((w, i) => {
    const v = decodeFields(table, i * NATIVE.entryBytes, ENTRY_FIELDS, le);
    const where = `tensor ${i} (${w.name}${['token_embedding', 'rms_final', 'rope_cos', 'rope_sin', 'wcls'].includes(w.name) ? '' : `[${w.layer}]`})`;
    if (v.name !== w.name) throw corrupt(`${where}: the table holds another name here`);
    const kind = kindOfCode(Number(v.kind));
    if (kind?.name !== w.kind) throw corrupt(`${where}: kind ${v.kind}, expected ${quantKind(w.kind).code} (${w.kind})`);
    for (const f of ['rows', 'cols', 'groupSize', 'dataOffset', 'dataBytes', 'scaleOffset', 'scaleBytes'] as const) {
      if (Number(v[f]) !== w[f]) throw corrupt(`${where}: ${f} ${v[f]}, expected ${w[f]}`);
    }
    entries.push(w);
  });
  return {
    order,
    targetId,
    quant: quant.name,
    groupSize,
    config,
    sharedClassifier,
    entries,
    tokenizerOffset: u('tokenizerOffset'),
    tokenizerBytes: u('tokenizerBytes'),
    maxTokenLength,
    bosId: u('bosId'),
    eosId: u('eosId'),
    eotId: u('eotId'),
    tokenizerKind: u('tokenizerKind'),
    preTokenizer: u('preTokenizer'),
    ignoreMerges: u('ignoreMerges') === 1,
    addBos: u('addBos') === 1,
    mergeCount: u('mergeCount'),
    specialCount: u('specialCount'),
    categoryRunCount: u('categoryRunCount'),
    chatBytes: u('chatBytes'),
    chatTrim: u('chatTrim') === 1,
    size: u('fileSize'),
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
    return { kind: e.kind, rows: e.rows, cols: e.cols, groupSize: e.groupSize, q: quantKind(e.kind).unpack!(file.read(e.dataOffset, e.dataBytes), e.rows, e.cols, storedCols(e.kind, e.cols, e.groupSize)), s } as IntMatrix;
  };
  const tok = Buffer.from(file.read(h.tokenizerOffset, h.tokenizerBytes));
  const pieces: string[] = [];
  const scores = new Float32Array(h.config.vocabSize);
  let at = 0;
  const bad = (what: string) => new ModelFormatError(`${file.path}: tokenizer section: ${what}`, 'the file is corrupt; build it again');
  for (let i = 0; i < h.config.vocabSize; i++) {
    if (at + 8 > tok.length) throw bad(`ends inside token ${i}`);
    scores[i] = le ? tok.readFloatLE(at) : tok.readFloatBE(at);
    const len = le ? tok.readUInt32LE(at + 4) : tok.readUInt32BE(at + 4);
    if (!Number.isFinite(scores[i])) throw bad(`token ${i} has a score that is not a finite number`);
    if (len > h.maxTokenLength || at + 8 + len > tok.length) throw bad(`token ${i} has length ${len} (max ${h.maxTokenLength}, ${tok.length - at - 8} bytes left)`);
    pieces.push(tok.toString('latin1', at + 8, at + 8 + len));
    at += 8 + len;
  }
  const vocab = readTokenizerParts(h, tok, at, pieces, scores, bad);
  const vector = (name: NativeTensorName, l: number) => (read(name, l) as { data: Float32Array }).data;
  // the engine's own RoPE tables, which carry any frequency scaling the source had
  const config: Config = { ...h.config, ropeTable: { cos: vector('rope_cos', 0), sin: vector('rope_sin', 0) } };
  return {
    path: file.path,
    format: 'retro-native',
    config,
    sharedClassifier: h.sharedClassifier,
    storage: h.quant,
    vocab,
    tokenEmbedding: () => read('token_embedding', 0),
    layerVector: (name, l) => vector(name, l),
    layerMatrix: (name, l) => read(name, l),
    rmsFinal: () => vector('rms_final', 0),
    classifier: () => read(h.sharedClassifier ? 'token_embedding' : 'wcls', 0),
    close: () => file.close(),
  };
}

/** The tokenizer section past the pieces (docs/model-format.md), checked as the engine checks it. */
function readTokenizerParts(h: NativeHeader, tok: Buffer, at: number, pieces: string[], scores: Float32Array, bad: (w: string) => ModelFormatError): Vocab {
  const le = h.order === 'little';
  const vocab: Vocab = { pieces, scores, maxTokenLength: h.maxTokenLength, bosId: h.bosId, eosId: h.eosId, eotId: h.eotId, addBos: h.addBos };
  const want = h.mergeCount * MERGE_BYTES + (h.specialCount + h.categoryRunCount) * 4 + h.chatBytes;
  if (tok.length - at !== want) throw bad(`${tok.length - at} bytes after the last token, the header's counts need ${want}`);
  const u = (i: number) => (le ? tok.readUInt32LE(at + i * 4) : tok.readUInt32BE(at + i * 4));
  const n = h.config.vocabSize;
  const merges = new Uint32Array(h.mergeCount * 2);
  const seen = new Uint8Array(h.mergeCount);
  for (let i = 0; i < h.mergeCount; i++) {
    const [l, r, rank, id] = [u(4 * i), u(4 * i + 1), u(4 * i + 2), u(4 * i + 3)];
    if (l >= n || r >= n || id >= n || rank >= h.mergeCount || seen[rank]) throw bad(`merge ${i} is out of range or repeats a rank`);
    if (i > 0 && (l < u(4 * i - 4) || (l === u(4 * i - 4) && r <= u(4 * i - 3)))) throw bad(`merge ${i} is out of (left, right) order`);
    if (pieces[id] !== pieces[l] + pieces[r]) throw bad(`merge ${i} does not make the token it names`);
    seen[rank] = 1;
    merges[2 * rank] = l;
    merges[2 * rank + 1] = r;
  }
  at += h.mergeCount * MERGE_BYTES;
  const specials: number[] = [];
  for (let i = 0; i < h.specialCount; i++) {
    const id = u(i);
    if (id >= n || (i > 0 && pieces[id].length > pieces[specials[i - 1]].length)) throw bad(`special token ${i} is out of range or out of order`);
    specials.push(id);
  }
  at += h.specialCount * 4;
  const runs = new Uint32Array(h.categoryRunCount);
  for (let i = 0; i < runs.length; i++) {
    runs[i] = u(i);
    if (runs[i] >>> 2 > 0x10ffff || (i === 0 ? runs[i] >>> 2 !== 0 : runs[i] >>> 2 <= runs[i - 1] >>> 2)) throw bad(`Unicode class run ${i} is not ascending from U+0000`);
  }
  at += h.categoryRunCount * 4;
  let chat: ChatJoints | undefined;
  if (h.chatBytes > 0) {
    const joints: Record<string, string> = {};
    for (const k of JOINT_KEYS) {
      if (at + 4 > tok.length) throw bad('the chat joints end early');
      const n = le ? tok.readUInt32LE(at) : tok.readUInt32BE(at);
      if (n > tok.length - at - 4) throw bad(`chat joint ${k} is longer than the section`);
      joints[k] = tok.toString('utf8', at + 4, at + 4 + n);
      at += 4 + n;
    }
    if (at !== tok.length) throw bad('bytes after the chat joints');
    chat = { ...(joints as Omit<ChatJoints, 'trim'>), trim: h.chatTrim };
  }
  const read = { ...vocab, ...(chat ? { chat } : {}), specials: specials.sort((a, b) => a - b) };
  return h.tokenizerKind === 1 ? { ...read, byteLevel: { pre: PRE_TOKENIZERS[h.preTokenizer - 1], merges, ignoreMerges: h.ignoreMerges, runs } } : read;
}
