import type { ChatJoints } from './chat.js';
import type { PreTokenizer } from './pretokenize.js';

/**
 * The in-memory model the reference forward pass runs on. Shapes follow
 * llama2.c: a matrix W of `rows x cols` computes W @ x for x of length cols.
 */

export interface Config {
  dim: number; // transformer width
  hiddenDim: number; // FFN inner width
  nLayers: number;
  nHeads: number; // query heads
  nKvHeads: number; // key/value heads (grouped-query attention when < nHeads)
  vocabSize: number;
  seqLen: number; // maximum context length
  ropeTheta: number; // RoPE base, 10000 in llama2.c
  normEps: number; // RMSNorm epsilon, 1e-5 in llama2.c
  /** Per-head width when it is not dim / nHeads (GGUF attention.key_length, config.json head_dim). */
  headSize?: number;
  /** RoPE frequency divisors, one per rotated pair (headSize / 2): Llama 3's rope scaling. */
  ropeFreqFactors?: Float32Array;
  /** cos/sin of every (pos, pair) as a model.rtr stores them: used instead of computing the angles. */
  ropeTable?: { cos: Float32Array; sin: Float32Array };
  /** How the KV cache holds keys and values; set only when not f32 (so a file's config equals its source's). */
  kvCache?: KvCacheKind;
  /** The model family (src/model/arch.ts); set only when not llama. */
  arch?: string;
  /** Every n-th layer (l + 1 a multiple of n) attends without RoPE (SmolLM3: 4); absent: every layer rotates. */
  noRopeEvery?: number;
}

/**
 * KV cache kinds, by the code model.rtr stores: float32 as llama2.c, or int8 with one scale per
 * (layer, position, KV head), quantized as runq quantizes activations (a quarter of the bytes).
 */
export const KV_CACHE_KINDS = ['f32', 'int8'] as const;
export type KvCacheKind = (typeof KV_CACHE_KINDS)[number];

export function kvCacheKind(c: Config): KvCacheKind {
  return c.kvCache ?? 'f32';
}

/** The config with the given KV cache (kvCache set only when not f32). */
export function withKvCache(c: Config, kind: KvCacheKind): Config {
  const { kvCache: _, ...rest } = c;
  return kind === 'f32' ? rest : { ...rest, kvCache: kind };
}

/** Float32 matrix, row-major `rows x cols`. */
export interface F32Matrix {
  kind: 'f32';
  rows: number;
  cols: number;
  data: Float32Array; // rows*cols
}

/**
 * Q8_0 matrix: int8 values with one float32 scale per group of `groupSize`
 * values. Groups restart at every row; the last group of a row is short when
 * cols is not a multiple of groupSize.
 */
export interface Q8Matrix {
  kind: 'q8';
  rows: number;
  cols: number;
  groupSize: number;
  q: Int8Array; // rows*cols
  s: Float32Array; // rows*ceil(cols/groupSize)
}

/**
 * Q4: 4-bit symmetric values in [-7, 7] with one float32 scale per group, scale = max|w| / 7.
 * Held unpacked here (one value per Int8) so the arithmetic is runq's; target files pack two per byte.
 */
export interface Q4Matrix {
  kind: 'q4';
  rows: number;
  cols: number;
  groupSize: number;
  q: Int8Array; // rows*cols, each in [-7, 7]
  s: Float32Array; // rows*ceil(cols/groupSize)
}

/** The integer kinds: the same per-group integer dot products, only the value range differs. */
export type IntMatrix = Q8Matrix | Q4Matrix;

export type Matrix = F32Matrix | IntMatrix;

export interface LayerWeights {
  rmsAtt: Float32Array; // (dim)
  wq: Matrix; // (dim, dim)
  wk: Matrix; // (kvDim, dim)
  wv: Matrix; // (kvDim, dim)
  wo: Matrix; // (dim, dim)
  rmsFfn: Float32Array; // (dim)
  w1: Matrix; // (hiddenDim, dim)  gate
  w2: Matrix; // (dim, hiddenDim)  down
  w3: Matrix; // (hiddenDim, dim)  up
  qNorm?: Float32Array; // (headSize) RMSNorm weight of each query head (Qwen3)
  kNorm?: Float32Array; // (headSize) of each key head
  bq?: Float32Array; // (qDim) query bias (Qwen2)
  bk?: Float32Array; // (kvDim)
  bv?: Float32Array; // (kvDim)
}

export interface Weights {
  tokenEmbedding: Matrix; // (vocabSize, dim) in its stored kind; a token's row is dequantized when it is read (dequantizeRow)
  layers: LayerWeights[];
  rmsFinal: Float32Array; // (dim)
  wcls: Matrix; // (vocabSize, dim); the embedding itself when the classifier is shared
}

export interface Vocab {
  /** Token pieces as byte strings (one char per byte, latin1), as llama2.c stores them. */
  pieces: string[];
  scores: Float32Array;
  maxTokenLength: number;
  bosId: number;
  eosId: number;
  /** End-of-turn id: generation stops at it as at EOS (eosId when the model has none). */
  eotId?: number;
  /** Ids matched whole in the text (special and added tokens), never split; printed as nothing. */
  specials?: number[];
  /** Whether encoding starts with BOS (llama2.c always; GPT-2 style tokenizers may not). */
  addBos?: boolean;
  /** The model's chat template reduced to joints (byte-level models). */
  chat?: ChatJoints;
  /** Why the model's chat template cannot run (chat is refused with it; plain generation is not). */
  chatRefused?: string;
  /** Present for byte-level BPE: pieces are then raw bytes. */
  byteLevel?: ByteLevel;
}

/** Byte-level BPE: the pre-tokenizer, the merges in rank order, and whether a whole piece in the vocabulary skips merging. */
export interface ByteLevel {
  pre: PreTokenizer;
  /** [left id, right id] per merge, lowest rank (first merged) first. */
  merges: Uint32Array;
  ignoreMerges: boolean;
  /** Unicode class runs (unicode.ts) the scanner uses: a model.rtr's own; else this Node's. */
  runs?: Uint32Array;
}

export function headSize(c: Config): number {
  return c.headSize ?? c.dim / c.nHeads;
}

/** Width of all query heads together: dim unless the head size is set apart from it. */
export function qDim(c: Config): number {
  return c.nHeads * headSize(c);
}

export function kvDim(c: Config): number {
  return c.nKvHeads * headSize(c);
}

export function groupsPerRow(cols: number, groupSize: number): number {
  return Math.ceil(cols / groupSize);
}
