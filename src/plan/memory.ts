/**
 * What the C engine will allocate, byte for byte as its xalloc calls do (templates/engine.c.ejs:
 * build_transformer, build_run_state, read_tokenizer, build_sampler), and the same in-RAM or
 * streaming decision it makes against a RAM budget.
 */
import type { NativeEntry as Placement, NativeLayout as FileLayout } from '../model/format.js';
import { isIntKind, storedCols, storedRowBytes } from '../quant/kinds.js';
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
  /** Bytes read from the model file per token when streaming, else 0. */
  readPerToken: number;
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

/**
 * @param pointerBytes the target's pointer size (sizeof(char *))
 * @param budget RAM budget in bytes (Infinity for none)
 * @param forceStream the engine's -S 1 / retro build --stream
 */
export function engineMemory(layout: FileLayout, vocab: Vocab, pointerBytes: number, budget: number, forceStream: boolean): EngineMemory {
  const c = layout.config;
  const e = (name: string, layer = 0) => layout.entries.find((x) => x.name === name && x.layer === layer)!;
  const L = c.nLayers;
  const matrixStruct = 16 + 3 * pointerBytes + 16;
  const small = 2 * L * c.dim * 4 + L * 7 * matrixStruct + c.dim * 4 + 2 * entryBytes(e('rope_cos'));
  const layerMatrices = ['wq', 'wk', 'wv', 'wo', 'w1', 'w3', 'w2'];
  let layers = 0;
  for (let l = 0; l < L; l++) for (const n of layerMatrices) layers += entryBytes(e(n, l));
  // the embedding stays in its stored kind (the engine dequantizes one row a token)
  const emb = e('token_embedding');
  const wcls = layout.sharedClassifier ? 0 : entryBytes(e('wcls'));
  const resident = entryBytes(emb) + wcls + layers;
  const tokEstimate = layout.tokenizerBytes - c.vocabSize * 7 + c.vocabSize * (2 * pointerBytes + 12);
  const fixed = small + stateBytes(layout) + tokEstimate;
  const tokenizer = tokEstimate;
  const base: MemoryPart[] = [
    { name: 'norms, RoPE tables, matrix headers', bytes: small },
    { name: 'KV cache', bytes: kvCacheBytes(layout) },
    { name: 'activations and sampler', bytes: stateBytes(layout) - kvCacheBytes(layout) },
    { name: 'tokenizer', bytes: tokenizer },
  ];
  const classifierRead = entryBytes(layout.sharedClassifier ? emb : e('wcls'));
  const perToken = layers + classifierRead;
  const fits = (n: number) => n <= budget;
  if (!forceStream && fits(fixed + resident)) {
    const parts = [{ name: 'weights (resident)', bytes: resident }, ...base];
    return { mode: 'ram', allocated: sum(parts), parts, streamBuffer: 0, readPerToken: 0, weightBytesPerToken: perToken };
  }
  const span = (unit: StreamUnit) => {
    let most = 0;
    for (let l = 0; l < L; l++) {
      if (unit === 'layer') most = Math.max(most, entryEnd(e('w2', l)) - e('wq', l).dataOffset);
      else most = Math.max(most, entryEnd(e('wo', l)) - e('wq', l).dataOffset, entryEnd(e('w2', l)) - e('w1', l).dataOffset);
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
  let read = storedRowBytes(emb.kind, c.dim, emb.groupSize) + (isIntKind(emb.kind) ? groupsPerRow(c.dim, emb.groupSize) * 4 : 0);
  for (let l = residentLayers; l < L; l++) {
    if (unit === 'layer') read += entryEnd(e('w2', l)) - e('wq', l).dataOffset;
    else read += entryEnd(e('wo', l)) - e('wq', l).dataOffset + entryEnd(e('w2', l)) - e('w1', l).dataOffset;
  }
  read += classifierRead;
  const parts = [{ name: `stream buffer (${unit === 'layer' ? 'a layer' : 'half a layer'})`, bytes: buffer }, ...(kept > 0 ? [{ name: `weights of the first ${residentLayers} layers (resident)`, bytes: kept }] : []), ...base];
  return { mode: 'stream', unit, residentLayers, allocated: sum(parts), parts, streamBuffer: buffer, readPerToken: read, weightBytesPerToken: perToken };
}

function sum(parts: MemoryPart[]): number {
  return parts.reduce((n, p) => n + p.bytes, 0);
}

/** Multiply-adds per token: every weight matrix once (attention over the context is left out). */
export function macsPerToken(layout: FileLayout): number {
  const c = layout.config;
  const kv = kvDim(c);
  return c.nLayers * (2 * qDim(c) * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hiddenDim) + c.vocabSize * c.dim;
}
