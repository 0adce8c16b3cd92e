/**
 * A model file opened for reading: its config and a way to read one tensor at
 * a time, so conversion never holds the whole model twice. `loadWeights`
 * reads everything into the reference engine's in-memory form.
 */
import { ModelFormatError } from '../errors.js';
import { convertMatrix, type QuantKind } from '../quant/kinds.js';
import { headSize, type Config, type LayerWeights, type Matrix, type Vocab, type Weights } from '../reference/model.js';

import { archOf, shapeOf, type MatrixName, type VectorName } from './arch.js';

export type { MatrixName, VectorName } from './arch.js';
/** A matrix by the name conversion asks for it: a layer's, the embedding or the classifier. */
export type MatrixRef = MatrixName | 'token_embedding' | 'classifier';

export interface ModelSource {
  readonly path: string;
  readonly format: 'llama2c-v0' | 'llama2c-v1' | 'llama2c-v2' | 'gguf' | 'hf-safetensors' | 'retro-native';
  readonly config: Config;
  readonly sharedClassifier: boolean;
  /** Storage of the big matrices as found in the file: one lowercase type name (f32, q8_0, q4_k, ...) or 'mixed'. */
  readonly storage: string;
  readonly vocab?: Vocab;
  /** Every tensor in the file with its type and bytes, where the format names them (GGUF, safetensors). */
  readonly tensors?: readonly TensorSummary[];
  /** What the file says about its tokenizer, readable or not by retro. */
  readonly tokenizer?: TokenizerInfo;
  tokenEmbedding(): Matrix; // (vocab, dim)
  layerVector(name: VectorName, layer: number): Float32Array; // (cols of the row's vector)
  layerMatrix(name: MatrixName, layer: number): Matrix;
  rmsFinal(): Float32Array; // (dim)
  classifier(): Matrix; // (vocab, dim): the embedding when shared
  /**
   * Rows [row0, row0 + rows) of a matrix, where the format can read part of a tensor: conversion
   * then holds a chunk at a time, never a 128K-row embedding whole. `row0` and `rows` are multiples
   * of the head size (or reach the last row), so a reader that reorders rows within heads can.
   */
  readRows?(name: MatrixRef, layer: number, row0: number, rows: number): Matrix;
  close(): void;
}

export interface TensorSummary {
  name: string;
  type: string; // the file's own type name: Q4_K, BF16, ...
  shape: number[]; // rows first
  bytes: number;
}

export interface TokenizerInfo {
  kind: string; // llama (SentencePiece), gpt2 (byte-level BPE), ...
  size: number;
  chatTemplate: boolean;
  bosId: number;
  eosId: number;
  eotId?: number;
}

export const LIMITS = {
  dim: 1 << 16,
  hiddenDim: 1 << 18,
  nLayers: 1024,
  nHeads: 1024,
  vocabSize: 1 << 21,
  seqLen: 1 << 20,
};

export const MIN_VOCAB = 259;

/** Checks dimensions against each other before anything is allocated. */
export function validateConfig(c: Config, path: string): void {
  const bad = (what: string) =>
    new ModelFormatError(`${path}: impossible model dimensions: ${what}`, 'the header is corrupt or this is not a model file');
  const positive: (keyof typeof LIMITS)[] = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'vocabSize', 'seqLen'];
  for (const k of positive) {
    const v = c[k];
    if (!Number.isInteger(v) || v <= 0) throw bad(`${k} = ${v} (must be a positive integer)`);
    if (v > LIMITS[k]) throw bad(`${k} = ${v} (more than ${LIMITS[k]})`);
  }
  if (!Number.isInteger(c.nKvHeads) || c.nKvHeads <= 0 || c.nKvHeads > c.nHeads) {
    throw bad(`nKvHeads = ${c.nKvHeads} (must be 1..nHeads = ${c.nHeads})`);
  }
  if (c.headSize === undefined && c.dim % c.nHeads !== 0) throw bad(`dim ${c.dim} is not a multiple of nHeads ${c.nHeads}`);
  if (c.nHeads % c.nKvHeads !== 0) throw bad(`nHeads ${c.nHeads} is not a multiple of nKvHeads ${c.nKvHeads}`);
  const hs = headSize(c);
  if (!Number.isInteger(hs) || hs <= 0 || hs > LIMITS.dim) throw bad(`head size ${hs} (must be a positive integer up to ${LIMITS.dim})`);
  if (hs % 2 !== 0) throw bad(`head size ${hs} is odd (RoPE rotates pairs)`);
  if (c.ropeFreqFactors && c.ropeFreqFactors.length !== hs / 2) throw bad(`${c.ropeFreqFactors.length} RoPE frequency factors for head size ${hs} (needs ${hs / 2})`);
  if (!(c.ropeTheta > 0 && Number.isFinite(c.ropeTheta)) || !(c.normEps > 0 && Number.isFinite(c.normEps))) throw bad(`ropeTheta ${c.ropeTheta} / normEps ${c.normEps} must be finite and positive`);
  // The tokenizer's byte fallback uses ids 3..258 (<0x00>..<0xFF>): a smaller vocabulary cannot encode every prompt.
  if (c.vocabSize < MIN_VOCAB) throw bad(`vocabSize = ${c.vocabSize} (less than ${MIN_VOCAB}: the byte-fallback tokens are ids 3..258)`);
}

function checkShape(m: Matrix, rows: number, cols: number, what: string, path: string): Matrix {
  if (m.rows !== rows || m.cols !== cols) {
    throw new ModelFormatError(`${path}: tensor ${what} is ${m.rows}x${m.cols}, expected ${rows}x${cols}`, 'the file is corrupt or not a llama model');
  }
  return m;
}

function checkLength(v: Float32Array, n: number, what: string, path: string): Float32Array {
  if (v.length !== n) throw new ModelFormatError(`${path}: tensor ${what} has ${v.length} values, expected ${n}`, 'the file is corrupt or not of the family it names');
  return v;
}

export function loadWeights(src: ModelSource): Weights {
  const c = src.config;
  const p = src.path;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const lw: Record<string, Matrix | Float32Array> = {};
    for (const x of archOf(c).layer) {
      const [rows, cols] = shapeOf(x, c);
      lw[x.ts] = x.matrix ? checkShape(src.layerMatrix(x.name as MatrixName, l), rows, cols, `${x.name}[${l}]`, p) : checkLength(src.layerVector(x.name as VectorName, l), cols, `${x.name}[${l}]`, p);
    }
    layers.push(lw as unknown as LayerWeights);
  }
  const tokenEmbedding = checkShape(src.tokenEmbedding(), c.vocabSize, c.dim, 'token_embedding', p);
  const wcls = src.sharedClassifier ? tokenEmbedding : checkShape(src.classifier(), c.vocabSize, c.dim, 'classifier', p);
  return { tokenEmbedding, layers, rmsFinal: src.rmsFinal(), wcls };
}

/** A model's weights stored as `quant` exactly as the converter stores them, so the reference runs what a target loads. */
export function loadQuantizedWeights(src: ModelSource, quant: QuantKind, groupSize: number): Weights {
  return loadWeights({
    ...src,
    tokenEmbedding: () => convertMatrix(src.tokenEmbedding(), quant, groupSize),
    layerMatrix: (name, l) => convertMatrix(src.layerMatrix(name, l), quant, groupSize),
    classifier: () => convertMatrix(src.classifier(), quant, groupSize),
    layerVector: (name, l) => src.layerVector(name, l),
    rmsFinal: () => src.rmsFinal(),
  });
}
