/**
 * model.rtr described once: the header fields, the tensor-table entry fields and the tensor order.
 * The writer and reader (native.ts) loop over these tables, the C template gets them as named
 * constants (codegen/render.ts), and docs/model-format.md carries the tables `formatDocTables`
 * renders (a test compares them).
 */
import { ModelFormatError } from '../errors.js';
import { QUANT_KINDS, isIntKind, storedRowBytes, type QuantKind } from '../quant/kinds.js';
import { KV_CACHE_KINDS, groupsPerRow, headSize, type Config, type Vocab } from '../reference/model.js';
import { JOINT_KEYS } from '../reference/chat.js';
import { PRE_TOKENIZERS } from '../reference/pretokenize.js';
import { categoryRuns } from '../reference/unicode.js';
import { archOf, ARCHITECTURES, shapeOf, type LayerTensorName } from './arch.js';

export const NATIVE = {
  magic: 'RTRO',
  version: 7,
  headerBytes: 176,
  entryBytes: 64,
  marker: 0x01020304,
  maxFileBytes: 0x7fffffff, // 32-bit long offsets on the targets
} as const;

export type FieldType = 'u32' | 'f32' | 'bytes';

export interface FieldSpec<K extends string = string> {
  key: K;
  type: FieldType;
  /** Bytes the field takes (4 for numbers). */
  bytes: number;
  doc: string;
}

export interface Field<K extends string = string> extends FieldSpec<K> {
  offset: number;
  /** The C constant holding its offset. */
  macro: string;
}

/** The tokenizers the engine runs, by the code model.rtr stores. */
export const TOKENIZER_KINDS = ['sentencepiece', 'byte-level'] as const;

/** Bytes of one merge record: left id, right id, rank, merged id. */
export const MERGE_BYTES = 16;

const kindList = QUANT_KINDS.map((k) => `${k.code} = ${k.name}`).join(', ');

const u32 = <K extends string>(key: K, doc: string): FieldSpec<K> => ({ key, type: 'u32', bytes: 4, doc });

const HEADER_SPEC = [
  { key: 'magic', type: 'bytes', bytes: 4, doc: 'magic `RTRO` (bytes, the same in either order)' },
  u32('marker', 'byte-order marker `0x01020304` written in the target\'s order; a reader that sees `0x04030201` has a file for the other byte order'),
  u32('version', `format version (${NATIVE.version})`),
  u32('quant', `quantization of the big matrices: ${kindList}`),
  u32('groupSize', 'values per scale of the integer kinds (0 for f32)'),
  u32('alignment', 'alignment used'),
  u32('dim', 'transformer width'),
  u32('hiddenDim', 'FFN inner width'),
  u32('nLayers', 'layers'),
  u32('nHeads', 'query heads'),
  u32('nKvHeads', 'key/value heads'),
  u32('vocabSize', 'vocabulary size'),
  u32('seqLen', 'context length'),
  u32('sharedClassifier', '1 when the classifier is the token embedding'),
  { key: 'ropeTheta', type: 'f32', bytes: 4, doc: 'RoPE theta' },
  { key: 'normEps', type: 'f32', bytes: 4, doc: 'RMSNorm epsilon' },
  u32('tokenizerOffset', 'tokenizer section offset'),
  u32('tokenizerBytes', 'tokenizer section bytes'),
  u32('maxTokenLength', 'max token length'),
  u32('bosId', 'BOS id'),
  u32('eosId', 'EOS id'),
  u32('tensorCount', 'number of tensor table entries'),
  u32('fileSize', 'total file size (the engine refuses a truncated or padded file before allocating)'),
  { key: 'targetId', type: 'bytes', bytes: 32, doc: 'id of the target the file was built for, NUL-padded (named in the refusal message)' },
  u32('tokenizerKind', `tokenizer: ${TOKENIZER_KINDS.map((k, i) => `${i} = ${k}`).join(', ')}`),
  u32('preTokenizer', `byte-level pre-tokenizer: 0 = none, ${PRE_TOKENIZERS.map((p, i) => `${i + 1} = ${p}`).join(', ')}`),
  u32('ignoreMerges', '1 when a piece the vocabulary holds whole is one token without merging (Llama 3)'),
  u32('addBos', '1 when encoding starts with BOS'),
  u32('eotId', 'end-of-turn id (the EOS id when the model has none); generation stops at BOS, EOS and this'),
  u32('mergeCount', 'merges in the tokenizer section (byte-level BPE)'),
  u32('specialCount', 'special tokens in the tokenizer section'),
  u32('categoryRunCount', 'Unicode class runs in the tokenizer section (byte-level BPE)'),
  u32('chatBytes', 'bytes of the chat joints at the end of the tokenizer section (0: the model has no chat template)'),
  u32('chatTrim', '1 when the chat template trims messages (the engine trims what the user types)'),
  u32('headSize', 'per-head width of queries and keys (dim / query heads unless the model sets it apart: GGUF `attention.key_length`, config.json `head_dim`)'),
  u32('kvCache', `KV cache the engine allocates: ${KV_CACHE_KINDS.map((k, i) => `${i} = ${k}`).join(', ')} (int8: one float32 scale per layer, position and KV head)`),
  u32('arch', `model family (src/model/arch.ts): ${ARCHITECTURES.map((a) => `${a.code} = ${a.name}`).join(', ')}; an engine runs the family it was generated for`),
] as const satisfies readonly FieldSpec[];

const ENTRY_SPEC = [
  { key: 'name', type: 'bytes', bytes: 32, doc: 'name, NUL-padded (`wq` etc.; per-layer tensors repeat the name once per layer)' },
  u32('kind', `kind: ${kindList}`),
  u32('rows', 'rows'),
  u32('cols', 'cols'),
  u32('groupSize', 'group size (integer kinds)'),
  u32('dataOffset', 'data offset'),
  u32('dataBytes', `data bytes: rows x row bytes (${QUANT_KINDS.map((k) => `${k.name}: ${k.rowBytesDoc}`).join('; ')}), where padded = ceil(cols / group) x group: an integer row is stored zero-padded to whole groups, so every row and group starts on a group boundary`),
  u32('scaleOffset', 'scales offset (integer kinds)'),
  u32('scaleBytes', 'scales bytes (integer kinds: rows x ceil(cols / group) x 4, f32)'),
] as const satisfies readonly FieldSpec[];

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

function layoutFields<K extends string>(spec: readonly FieldSpec<K>[], prefix: string, total: number): Field<K>[] {
  let at = 0;
  const out = spec.map((f) => {
    const field = { ...f, offset: at, macro: `${prefix}${snake(f.key)}` };
    at += f.bytes;
    return field;
  });
  if (at !== total) throw new Error(`format table: ${prefix} fields take ${at} bytes, not ${total}`);
  return out;
}

export type HeaderKey = (typeof HEADER_SPEC)[number]['key'];
export type EntryKey = (typeof ENTRY_SPEC)[number]['key'];
export const HEADER_FIELDS: Field<HeaderKey>[] = layoutFields<HeaderKey>(HEADER_SPEC, 'RT_H_', NATIVE.headerBytes);
export const ENTRY_FIELDS: Field<EntryKey>[] = layoutFields<EntryKey>(ENTRY_SPEC, 'RT_E_', NATIVE.entryBytes);

export function headerField(key: HeaderKey): Field<HeaderKey> {
  return HEADER_FIELDS.find((f) => f.key === key)!;
}

export function entryField(key: EntryKey): Field<EntryKey> {
  return ENTRY_FIELDS.find((f) => f.key === key)!;
}

/** The markdown tables of docs/model-format.md. */
export function formatDocTables(): { header: string; entry: string } {
  const table = (fields: Field[]) =>
    ['| offset | type | field |', '| ---: | --- | --- |', ...fields.map((f) => `| ${f.offset} | ${f.type === 'bytes' ? `${f.bytes} bytes` : f.type} | ${f.doc} |`)].join('\n');
  return { header: table(HEADER_FIELDS), entry: table(ENTRY_FIELDS) };
}

/** Tensor names in file order; per-layer tensors repeat once per layer. */
export type NativeTensorName = 'token_embedding' | LayerTensorName | 'rms_final' | 'rope_cos' | 'rope_sin' | 'wcls';

export interface TensorShape {
  name: NativeTensorName;
  layer: number;
  rows: number;
  cols: number;
  /** A weight matrix, stored in the file's quantization; the rest is always f32. */
  matrix: boolean;
}

/**
 * The tensors in file order: the embedding, each layer's tensors as its family's row lists them
 * (src/model/arch.ts), then the final norm, the RoPE tables and the classifier unless shared. Each
 * layer's tensors are contiguous, w1 next to w3, so a streaming engine reads a layer (or half of
 * one) in one sequential read.
 */
export function tensorOrder(c: Config, sharedClassifier: boolean): TensorShape[] {
  const t = (name: NativeTensorName, layer: number, rows: number, cols: number, matrix: boolean): TensorShape => ({ name, layer, rows, cols, matrix });
  const shapes = [t('token_embedding', 0, c.vocabSize, c.dim, true)];
  const row = archOf(c);
  for (let l = 0; l < c.nLayers; l++) for (const x of row.layer) shapes.push(t(x.name, l, ...shapeOf(x, c), x.matrix));
  const half = headSize(c) / 2;
  shapes.push(t('rms_final', 0, 1, c.dim, false), t('rope_cos', 0, c.seqLen, half, false), t('rope_sin', 0, c.seqLen, half, false));
  if (!sharedClassifier) shapes.push(t('wcls', 0, c.vocabSize, c.dim, true));
  return shapes;
}

export interface NativeEntry {
  name: NativeTensorName;
  layer: number;
  kind: QuantKind;
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
  quant: QuantKind;
  groupSize: number;
  alignment: number;
  sharedClassifier: boolean;
  entries: NativeEntry[];
  tokenizerOffset: number;
  tokenizerBytes: number;
  size: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** The parts of the tokenizer section past the pieces, in file order, with their counts. */
export function tokenizerParts(v: Vocab): { merges: number; specials: number; runs: number; chat: number } {
  const bl = v.byteLevel;
  return { merges: bl ? bl.merges.length / 2 : 0, specials: (v.specials ?? []).length, runs: bl ? (bl.runs ?? categoryRuns()).length : 0, chat: chatSection(v).length };
}

/** The chat joints as model.rtr stores them: per joint (JOINT_KEYS order) a u32 length in the target's order, then its UTF-8 bytes. */
export function chatSection(v: Vocab, le = true): Buffer {
  if (!v.chat) return Buffer.alloc(0);
  return Buffer.concat(
    JOINT_KEYS.flatMap((k) => {
      const b = Buffer.from(v.chat![k], 'utf8');
      const n = Buffer.alloc(4);
      if (le) n.writeUInt32LE(b.length);
      else n.writeUInt32BE(b.length);
      return [n, b];
    }),
  );
}

export function tokenizerBytes(v: Vocab): number {
  const p = tokenizerParts(v);
  return v.pieces.reduce((n, x) => n + 8 + x.length, 0) + p.merges * MERGE_BYTES + p.specials * 4 + p.runs * 4 + p.chat;
}

/** Where every tensor goes; nothing is read or written yet. */
export function planNative(config: Config, vocab: Vocab, quant: QuantKind, groupSize: number, alignment: number, sharedClassifier: boolean, path: string): NativeLayout {
  return layoutFor(config, tokenizerBytes(vocab), quant, groupSize, alignment, sharedClassifier, path);
}

/** The layout for a tokenizer section of `tokBytes`: what the writer writes and the readers expect, entry by entry. */
export function layoutFor(config: Config, tokBytes: number, quant: QuantKind, groupSize: number, alignment: number, sharedClassifier: boolean, path: string): NativeLayout {
  const layout = place(config, tokBytes, quant, groupSize, alignment, sharedClassifier);
  if (layout.size > NATIVE.maxFileBytes) {
    // the most exact kind that would fit, named in the fix
    const fits = QUANT_KINDS.find((k) => k.name !== quant && place(config, tokBytes, k.name, groupSize || 32, alignment, sharedClassifier).size <= NATIVE.maxFileBytes);
    throw new ModelFormatError(
      `${path}: the converted model would be ${layout.size} bytes as ${quant}, over the 2 GB a 32-bit target can seek`,
      fits ? `quantize with --quant ${fits.name} (${place(config, tokBytes, fits.name, groupSize || 32, alignment, sharedClassifier).size} bytes)` : 'use a smaller model: no quantization retro has makes it fit',
    );
  }
  return layout;
}

function place(config: Config, tokBytes: number, quant: QuantKind, groupSize: number, alignment: number, sharedClassifier: boolean): NativeLayout {
  const shapes = tensorOrder(config, sharedClassifier);
  const tokenizerOffset = align(NATIVE.headerBytes + shapes.length * NATIVE.entryBytes, alignment);
  let at = align(tokenizerOffset + tokBytes, alignment);
  const entries: NativeEntry[] = [];
  for (const { name, layer, rows, cols, matrix } of shapes) {
    const kind: QuantKind = matrix ? quant : 'f32';
    const e: NativeEntry = { name, layer, kind, rows, cols, groupSize: isIntKind(kind) ? groupSize : 0, dataOffset: at, dataBytes: rows * storedRowBytes(kind, cols, groupSize), scaleOffset: 0, scaleBytes: 0 };
    at = align(at + e.dataBytes, alignment);
    if (isIntKind(kind)) {
      e.scaleOffset = at;
      e.scaleBytes = rows * groupsPerRow(cols, groupSize) * 4;
      at = align(at + e.scaleBytes, alignment);
    }
    entries.push(e);
  }
  return { config, quant, groupSize: isIntKind(quant) ? groupSize : 0, alignment, sharedClassifier, entries, tokenizerOffset, tokenizerBytes: tokBytes, size: at };
}
