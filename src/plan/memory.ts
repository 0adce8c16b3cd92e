/**
 * What the C engine will allocate, byte for byte as its xalloc calls do (templates/engine/load.c.ejs:
 * build_transformer, build_run_state, read_tokenizer, build_sampler), and the same in-RAM or
 * streaming decision it makes against a RAM budget.
 */
import { archOf, shapeOf } from '../model/arch.js';
import { NATIVE, tokenizerParts, type NativeEntry as Placement, type NativeLayout as FileLayout } from '../model/format.js';
import { isIntKind, storedCols, storedRowBytes } from '../quant/kinds.js';
import { JOINT_KEYS } from '../reference/chat.js';
import { groupsPerRow, headSize, kvCacheKind, kvDim, qDim, type Vocab } from '../reference/model.js';

export type StreamUnit = 'layer' | 'half';

export interface MemoryPart {
  name: string;
  bytes: number;
}

export interface EngineMemory {
  mode: 'ram' | 'stream';
  unit?: StreamUnit;
  /** Streaming: layers kept in RAM (the first ones); the rest are read per token. */
  residentLayers?: number;
  /** What the engine holds once built and running (its `-v 1` "allocated" figure). */
  allocated: number;
  parts: MemoryPart[];
  streamBuffer: number;
  /** The most the engine holds at once, for a given prompt (its `-v 1` "peak"): loading, or encoding the prompt. */
  peak: number;
  /** Bytes read from the model file per token when streaming, else 0. */
  readPerToken: number;
  /** Separate reads (a seek and a read each) per token when streaming, else 0. */
  readsPerToken: number;
  /** What a streaming token reads, per kind of tensor. */
  reads: StreamRead[];
  /** Weight bytes a token touches (resident or streamed). */
  weightBytesPerToken: number;
}

export class DoesNotFit {
  constructor(
    readonly needs: number,
    readonly budget: number,
    readonly kvCache: number,
  ) {}
}

const entryEnd = (e: Placement) => Math.max(e.dataOffset + e.dataBytes, isIntKind(e.kind) ? e.scaleOffset + e.scaleBytes : 0);
const entryBytes = (e: Placement) => e.dataBytes + (isIntKind(e.kind) ? e.scaleBytes : 0);

/** The engine's run state and sampler (state_bytes in the C). */
function stateBytes(layout: FileLayout): number {
  const c = layout.config;
  const kv = kvDim(c);
  const gs = isIntKind(layout.quant) ? layout.groupSize : 32;
  // x, xb2 (dim); xb and xq (the wider of dim and the query heads, which wo reads); q (query heads)
  const wide = Math.max(c.dim, qDim(c));
  const floats = c.dim * 2 + wide + qDim(c) + c.hiddenDim * 2 + kv * 2 + c.nHeads * c.seqLen + c.vocabSize + groupsPerRow(wide, gs) + groupsPerRow(c.hiddenDim, gs);
  // xq and hq: int8 values padded to whole groups as the rows are, and the 2n bytes a kernel's prepare_x fills (MMX: int16 copy; AltiVec: 32 bytes per group of 32)
  const padded = (n: number) => storedCols('q8', n, gs);
  return floats * 4 + kvCacheBytes(layout) + 3 * (padded(wide) + padded(c.hiddenDim)) + c.vocabSize * 8;
}

/** Keys and values: float32, or int8 with a float32 scale per head (build_run_state). */
export function kvCacheBytes(layout: FileLayout): number {
  const c = layout.config;
  const values = c.nLayers * c.seqLen * kvDim(c);
  return 2 * (kvCacheKind(c) === 'int8' ? values + (values / headSize(c)) * 4 : values * 4);
}

/** One kind of tensor a streaming token reads: its bytes and separate reads (each a seek and a read). */
export interface StreamRead {
  kind: 'embedding row' | 'layers' | 'classifier';
  bytes: number;
  reads: number;
}

/** Bytes the tokenizer keeps (read_tokenizer, tokenizer_bytes in the C), and what reading it takes on top. */
function tokenizerMemory(layout: FileLayout, vocab: Vocab, pointerBytes: number) {
  const V = layout.config.vocabSize;
  const parts = tokenizerParts(vocab);
  const pieces = vocab.pieces.reduce((n, x) => n + x.length + 1, 0);
  // per token: its piece and NUL, a pointer, length, score; after the section is freed, the sorted index (int and pointer)
  const arrays = pieces + V * (pointerBytes + 8);
  const chat = parts.chat > 0 ? parts.chat - 3 * JOINT_KEYS.length : 0;
  const rest = parts.merges * 16 + parts.specials * 4 + parts.runs * 4 + chat;
  const sorted = V * (4 + pointerBytes);
  // the section stays allocated while the pieces, merges (with a bit a rank to check them), specials, runs and joints are read from it
  const reading = layout.tokenizerBytes + arrays + parts.merges * 16 + Math.max(vocab.byteLevel ? Math.floor(parts.merges / 8) + 1 : 0, parts.specials * 4 + parts.runs * 4 + chat);
  return { kept: arrays + rest + sorted, peak: Math.max(reading, arrays + rest + sorted) };
}

/**
 * What generate allocates for a prompt on top of what stays: its token buffer and, for byte-level
 * BPE, encode_bpe's work arrays (freed before the first forward pass).
 */
export function promptBytes(vocab: Vocab, pointerBytes: number, prompt: string): number {
  const n = Buffer.byteLength(prompt, 'utf8');
  const tokens = (4 * n + 3) * 4;
  if (!vocab.byteLevel) return tokens;
  const cps = [...prompt].length;
  // bpe_alloc(count, size) takes count + 1: code points, offsets and ends (size_t), bytes, classes, symbols (3 ints), merge heap (16-byte candidates)
  return tokens + (n + 1) * 4 + (cps + 2) * pointerBytes + (cps + 1) * pointerBytes + (4 * cps + 1) + (cps + 1) + 3 * (n + 1) * 4 + (3 * n + 1) * 16;
}

/**
 * @param pointerBytes the target's pointer size (sizeof(char *))
 * @param budget RAM budget in bytes (Infinity for none)
 * @param forceStream the engine's -S 1 / retro build --stream
 * @param prompt the -i prompt, for the peak (generate mode)
 */
export function engineMemory(layout: FileLayout, vocab: Vocab, pointerBytes: number, budget: number, forceStream: boolean, prompt = ''): EngineMemory {
  const c = layout.config;
  const e = (name: string, layer = 0) => layout.entries.find((x) => x.name === name && x.layer === layer)!;
  const L = c.nLayers;
  const matrixStruct = 16 + 3 * pointerBytes + 16;
  // the family's layer: its vectors stay in RAM, its matrices are what streams (arch.ts)
  const row = archOf(c);
  const layerMatrices = row.layer.filter((x) => x.matrix).map((x) => x.name);
  const vectorFloats = row.layer.filter((x) => !x.matrix).reduce((n, x) => n + shapeOf(x, c)[1], 0);
  const small = L * vectorFloats * 4 + L * layerMatrices.length * matrixStruct + c.dim * 4 + 2 * entryBytes(e('rope_cos'));
  const halves = (['attention', 'ffn'] as const).map((h) => layerMatrices.filter((n) => row.layer.find((x) => x.name === n)!.half === h));
  const [first, last] = [layerMatrices[0], layerMatrices[layerMatrices.length - 1]];
  const [attEnd, ffnStart] = [halves[0][halves[0].length - 1], halves[1][0]];
  const table = layout.entries.length * NATIVE.entryBytes;
  let layers = 0;
  for (let l = 0; l < L; l++) for (const n of layerMatrices) layers += entryBytes(e(n, l));
  // the embedding stays in its stored kind (the engine dequantizes one row a token)
  const emb = e('token_embedding');
  const wcls = layout.sharedClassifier ? 0 : entryBytes(e('wcls'));
  const resident = entryBytes(emb) + wcls + layers;
  const tok = tokenizerMemory(layout, vocab, pointerBytes);
  const fixed = small + stateBytes(layout) + tok.kept;
  const base: MemoryPart[] = [
    { name: 'norms, RoPE tables, matrix headers', bytes: small },
    { name: 'KV cache', bytes: kvCacheBytes(layout) },
    { name: 'activations and sampler', bytes: stateBytes(layout) - kvCacheBytes(layout) },
    { name: 'tokenizer', bytes: tok.kept },
  ];
  // The peak, in the engine's order: the tensor table while the weights and then the tokenizer are
  // read, then everything that stays with a prompt being encoded.
  const peak = (weightsLoading: number, weights: number) => Math.max(table + small + weightsLoading, table + small + weights + tok.peak, fixed + weights + promptBytes(vocab, pointerBytes, prompt));
  const classifierRead = entryBytes(layout.sharedClassifier ? emb : e('wcls'));
  const perToken = layers + classifierRead;
  const fits = (n: number) => n <= budget;
  if (!forceStream && fits(fixed + resident)) {
    const parts = [{ name: 'weights (resident)', bytes: resident }, ...base];
    return { mode: 'ram', allocated: sum(parts), peak: peak(resident, resident), parts, streamBuffer: 0, readPerToken: 0, readsPerToken: 0, reads: [], weightBytesPerToken: perToken };
  }
  const span = (unit: StreamUnit) => {
    let most = 0;
    for (let l = 0; l < L; l++) {
      if (unit === 'layer') most = Math.max(most, entryEnd(e(last, l)) - e(first, l).dataOffset);
      else most = Math.max(most, entryEnd(e(attEnd, l)) - e(first, l).dataOffset, entryEnd(e(last, l)) - e(ffnStart, l).dataOffset);
    }
    return most + layout.alignment;
  };
  let unit: StreamUnit = 'layer';
  let buffer = span('layer');
  if (!fits(fixed + buffer)) {
    unit = 'half';
    buffer = span('half');
  }
  if (!fits(fixed + buffer)) throw new DoesNotFit(fixed + buffer, budget, kvCacheBytes(layout));
  // As the engine does: when the budget decides (not -S 1), the first layers stay resident as far as it allows.
  const layerBytes = (l: number) => layerMatrices.reduce((n, m) => n + entryBytes(e(m, l)), 0);
  let residentLayers = 0;
  let kept = 0;
  if (!forceStream) {
    for (let room = budget - fixed - buffer; residentLayers < L && layerBytes(residentLayers) <= room; residentLayers++) {
      room -= layerBytes(residentLayers);
      kept += layerBytes(residentLayers);
    }
  }
  const reads: StreamRead[] = [];
  // embed: one row (f32), or its values and its scales
  const q = isIntKind(emb.kind);
  reads.push({ kind: 'embedding row', bytes: storedRowBytes(emb.kind, c.dim, emb.groupSize) + (q ? groupsPerRow(c.dim, emb.groupSize) * 4 : 0), reads: q ? 2 : 1 });
  // stream_layer: a layer (or each half) in one read, from its first matrix's data to its last one's end
  let layerRead = 0;
  for (let l = residentLayers; l < L; l++) {
    if (unit === 'layer') layerRead += entryEnd(e(last, l)) - e(first, l).dataOffset;
    else layerRead += entryEnd(e(attEnd, l)) - e(first, l).dataOffset + entryEnd(e(last, l)) - e(ffnStart, l).dataOffset;
  }
  reads.push({ kind: 'layers', bytes: layerRead, reads: (L - residentLayers) * (unit === 'layer' ? 1 : 2) });
  // classify: chunks of as many rows as fit the buffer (less two alignments), values and scales a read each
  const cls = layout.sharedClassifier ? emb : e('wcls');
  const rowBytes = storedRowBytes(cls.kind, c.dim, cls.groupSize) + (isIntKind(cls.kind) ? groupsPerRow(c.dim, cls.groupSize) * 4 : 0);
  const chunks = Math.ceil(c.vocabSize / Math.floor((buffer - 2 * layout.alignment) / rowBytes));
  reads.push({ kind: 'classifier', bytes: classifierRead, reads: chunks * (isIntKind(cls.kind) ? 2 : 1) });
  const parts = [{ name: `stream buffer (${unit === 'layer' ? 'a layer' : 'half a layer'})`, bytes: buffer }, ...(kept > 0 ? [{ name: `weights of the first ${residentLayers} layers (resident)`, bytes: kept }] : []), ...base];
  return {
    mode: 'stream',
    unit,
    residentLayers,
    allocated: sum(parts),
    peak: peak(buffer + kept, buffer + kept),
    parts,
    streamBuffer: buffer,
    readPerToken: sum(reads),
    readsPerToken: reads.reduce((n, r) => n + r.reads, 0),
    reads,
    weightBytesPerToken: perToken,
  };
}

function sum(parts: { bytes: number }[]): number {
  return parts.reduce((n, p) => n + p.bytes, 0);
}

/** Multiply-adds per token: every weight matrix once (attention over the context is left out). */
export function macsPerToken(layout: Pick<FileLayout, 'config'>): number {
  const c = layout.config;
  const kv = kvDim(c);
  return c.nLayers * (2 * qDim(c) * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hiddenDim) + c.vocabSize * c.dim;
}
