/**
 * The model families retro runs, one row each: the tensors of a layer (model.rtr, GGUF and Hugging
 * Face names, shapes in terms of the config, which half of the layer), where the norms sit, the
 * activation, RoPE (how the source stores Q/K rows, which layers skip it) and the conversion-time
 * fixes. The readers (gguf.ts, safetensors.ts), the model.rtr layout (format.ts), conversion,
 * loadWeights, plan's memory and the C template (codegen/render.ts) all derive from the row.
 * Adding a family is one row here plus what is new in its arithmetic (docs/adding-an-architecture.md).
 *
 * Every row computes in one order: RMSNorm before attention and FFN, SiLU-gated FFN, RoPE on
 * interleaved pairs (llama2.c) from model.rtr's cos/sin tables. A source that stores each Q/K head
 * as two halves (rotate-half, "NeoX": Hugging Face, and llama.cpp's GGUF for the Qwens) gets the
 * rows of those tensors (and of their biases and per-head norms) moved into pair order at
 * conversion: pair i of a head then holds dims (i, i + hs/2), rotated by the same angle, so every
 * score is the rotate-half one (the dot products sum the same products in another order).
 */
import { ModelFormatError } from '../errors.js';
import { headSize, kvDim, qDim, type Config, type LayerWeights, type Matrix } from '../reference/model.js';

export type MatrixName = 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'w3';
export type VectorName = 'rms_att' | 'rms_ffn' | 'q_norm' | 'k_norm' | 'bq' | 'bk' | 'bv';
export type LayerTensorName = MatrixName | VectorName;

/** A width from the config, with the C expression build_transformer has for it and the name its comments use. */
export type Dim = 'dim' | 'hiddenDim' | 'qDim' | 'kvDim' | 'headSize';
export const DIMS: Record<Dim, { of(c: Config): number; c: string; doc: string }> = {
  dim: { of: (c) => c.dim, c: 'p->dim', doc: 'dim' },
  hiddenDim: { of: (c) => c.hiddenDim, c: 'p->hidden_dim', doc: 'hidden_dim' },
  qDim: { of: qDim, c: 'p->q_dim', doc: 'q_dim' },
  kvDim: { of: kvDim, c: 'kv_dim', doc: 'kv_dim' },
  headSize: { of: headSize, c: 'hs', doc: 'head_size' },
};

export interface LayerTensor {
  name: LayerTensorName;
  /** blk.<l>.<gguf> in a GGUF. */
  gguf: string;
  /** model.layers.<l>.<hf> in a safetensors folder. */
  hf: string;
  /** A weight matrix (stored in the file's quantization, rows x cols), or a float32 vector of cols. */
  matrix: boolean;
  rows: Dim | 1;
  cols: Dim;
  /** The half of the layer it belongs to: streaming reads the attention and FFN halves apart. */
  half: 'attention' | 'ffn';
  /** Its rows follow the query/key heads' RoPE order (moved into pairs where the source stores halves). */
  ropeRows?: boolean;
  /** The field in the C's TransformerWeights (per-layer vectors are one (n_layers, cols) array). */
  c: string;
  /** The field in the reference's LayerWeights. */
  ts: keyof LayerWeights;
  /** What it does, for the C comment and the docs. */
  doc: string;
}

export type ArchName = 'llama' | 'qwen2' | 'qwen3' | 'smollm3';

export interface Architecture {
  name: ArchName;
  /** model.rtr's header code. */
  code: number;
  /** GGUF general.architecture, also the prefix of its metadata keys. */
  gguf: string;
  /** config.json `architectures`. */
  hf: string[];
  /** The tensors of one layer, in model.rtr's order: each half's vectors, then its matrices in the order forward uses them. */
  layer: LayerTensor[];
  /** How Q/K rows are stored in a GGUF of this family: in pairs (llama.cpp permuted them) or as two halves per head (NeoX). */
  ggufRope: 'pairs' | 'halves';
  /** Every n-th layer (l + 1 a multiple of n) attends without RoPE; 0: every layer rotates. */
  noRopeEvery: number;
  /** Where the norms sit and what else the row computes (docs and `retro inspect`). */
  norms: string;
  activation: 'silu';
  /** Tokens' embeddings are used as stored (Gemma would scale them by sqrt(dim)). */
  embeddingScale: 1;
  /** The classifier is the embedding when the file has no output tensor. */
  tied: 'when output is absent';
  /** What conversion changes, as llama.cpp's converters do. */
  fixes: string[];
}

const t = (name: LayerTensorName, gguf: string, hf: string, rows: Dim | 1, cols: Dim, half: LayerTensor['half'], c: string, ts: keyof LayerWeights, doc: string, ropeRows = false): LayerTensor => ({
  name,
  gguf,
  hf,
  matrix: rows !== 1,
  rows,
  cols,
  half,
  ...(ropeRows ? { ropeRows } : {}),
  c,
  ts,
  doc,
});

const RMS_ATT = t('rms_att', 'attn_norm.weight', 'input_layernorm.weight', 1, 'dim', 'attention', 'rms_att_weight', 'rmsAtt', 'RMSNorm weight before attention');
const Q_NORM = t('q_norm', 'attn_q_norm.weight', 'self_attn.q_norm.weight', 1, 'headSize', 'attention', 'q_norm_weight', 'qNorm', 'RMSNorm weight of each query head', true);
const K_NORM = t('k_norm', 'attn_k_norm.weight', 'self_attn.k_norm.weight', 1, 'headSize', 'attention', 'k_norm_weight', 'kNorm', 'RMSNorm weight of each key head', true);
const BQ = t('bq', 'attn_q.bias', 'self_attn.q_proj.bias', 1, 'qDim', 'attention', 'bq', 'bq', 'query bias', true);
const BK = t('bk', 'attn_k.bias', 'self_attn.k_proj.bias', 1, 'kvDim', 'attention', 'bk', 'bk', 'key bias', true);
const BV = t('bv', 'attn_v.bias', 'self_attn.v_proj.bias', 1, 'kvDim', 'attention', 'bv', 'bv', 'value bias');
const ATTENTION = [
  t('wq', 'attn_q.weight', 'self_attn.q_proj.weight', 'qDim', 'dim', 'attention', 'wq', 'wq', 'queries', true),
  t('wk', 'attn_k.weight', 'self_attn.k_proj.weight', 'kvDim', 'dim', 'attention', 'wk', 'wk', 'keys', true),
  t('wv', 'attn_v.weight', 'self_attn.v_proj.weight', 'kvDim', 'dim', 'attention', 'wv', 'wv', 'values'),
  t('wo', 'attn_output.weight', 'self_attn.o_proj.weight', 'dim', 'qDim', 'attention', 'wo', 'wo', 'attention output'),
];
const FFN = [
  t('rms_ffn', 'ffn_norm.weight', 'post_attention_layernorm.weight', 1, 'dim', 'ffn', 'rms_ffn_weight', 'rmsFfn', 'RMSNorm weight before the FFN'),
  t('w1', 'ffn_gate.weight', 'mlp.gate_proj.weight', 'hiddenDim', 'dim', 'ffn', 'w1', 'w1', 'FFN gate'),
  t('w3', 'ffn_up.weight', 'mlp.up_proj.weight', 'hiddenDim', 'dim', 'ffn', 'w3', 'w3', 'FFN up'),
  t('w2', 'ffn_down.weight', 'mlp.down_proj.weight', 'dim', 'hiddenDim', 'ffn', 'w2', 'w2', 'FFN down'),
];

const PRE_NORMS = 'RMSNorm before attention and before the FFN, and on the last layer\'s output';
const HALVES_FIX = 'Q/K rows stored as two halves per head (rotate-half RoPE) are moved into interleaved pairs';

export const ARCHITECTURES: readonly Architecture[] = [
  {
    name: 'llama',
    code: 0,
    gguf: 'llama',
    hf: ['LlamaForCausalLM'],
    layer: [RMS_ATT, ...ATTENTION, ...FFN],
    ggufRope: 'pairs',
    noRopeEvery: 0,
    norms: PRE_NORMS,
    activation: 'silu',
    embeddingScale: 1,
    tied: 'when output is absent',
    fixes: [`Hugging Face: ${HALVES_FIX}`],
  },
  {
    name: 'qwen2',
    code: 1,
    gguf: 'qwen2',
    hf: ['Qwen2ForCausalLM'],
    layer: [RMS_ATT, BQ, BK, BV, ...ATTENTION, ...FFN],
    ggufRope: 'halves',
    noRopeEvery: 0,
    norms: `${PRE_NORMS}; biases added to q, k and v`,
    activation: 'silu',
    embeddingScale: 1,
    tied: 'when output is absent',
    fixes: [`GGUF and Hugging Face: ${HALVES_FIX} (with the q and k biases)`],
  },
  {
    name: 'qwen3',
    code: 2,
    gguf: 'qwen3',
    hf: ['Qwen3ForCausalLM'],
    layer: [RMS_ATT, Q_NORM, K_NORM, ...ATTENTION, ...FFN],
    ggufRope: 'halves',
    noRopeEvery: 0,
    norms: `${PRE_NORMS}; RMSNorm on each query and key head before RoPE (QK-norm)`,
    activation: 'silu',
    embeddingScale: 1,
    tied: 'when output is absent',
    fixes: [`GGUF and Hugging Face: ${HALVES_FIX} (with the q and k norm weights)`],
  },
  {
    name: 'smollm3',
    code: 3,
    gguf: 'smollm3',
    hf: ['SmolLM3ForCausalLM'],
    layer: [RMS_ATT, ...ATTENTION, ...FFN],
    ggufRope: 'pairs',
    noRopeEvery: 4,
    norms: `${PRE_NORMS}; every 4th layer attends without RoPE`,
    activation: 'silu',
    embeddingScale: 1,
    tied: 'when output is absent',
    fixes: [`Hugging Face: ${HALVES_FIX}`],
  },
];

/** The global tensors every row has, by the name each format gives them. */
export const GLOBAL_TENSORS = {
  embedding: { gguf: 'token_embd.weight', hf: 'model.embed_tokens.weight' },
  finalNorm: { gguf: 'output_norm.weight', hf: 'model.norm.weight' },
  classifier: { gguf: 'output.weight', hf: 'lm_head.weight' },
} as const;

/**
 * Families people run that retro does not, with what exactly is missing: refused by name, never
 * read as something else.
 */
export const REFUSED_ARCHITECTURES: readonly { gguf: string[]; hf: string[]; missing: string }[] = [
  { gguf: ['qwen2moe', 'qwen3moe', 'mixtral', 'olmoe', 'granitemoe'], hf: ['Qwen2MoeForCausalLM', 'Qwen3MoeForCausalLM', 'MixtralForCausalLM', 'OlmoeForCausalLM'], missing: 'mixture of experts (ffn_gate_inp and the ffn_*_exps expert tensors)' },
  { gguf: ['deepseek2', 'deepseek3', 'kimi'], hf: ['DeepseekV2ForCausalLM', 'DeepseekV3ForCausalLM'], missing: 'multi-head latent attention (attn_kv_a_mqa, attn_kv_b) and mixture of experts' },
  { gguf: ['gemma3n'], hf: ['Gemma3nForCausalLM', 'Gemma3nForConditionalGeneration'], missing: 'per-layer embeddings (per_layer_token_embd), AltUp and LAuReL blocks' },
  { gguf: ['gemma3', 'gemma2', 'gemma'], hf: ['Gemma3ForCausalLM', 'Gemma2ForCausalLM', 'GemmaForCausalLM'], missing: 'the GELU-tanh FFN (no tanhf yet), post_attention_norm / post_ffw_norm, embeddings scaled by sqrt(dim) and sliding-window attention' },
  { gguf: ['phi3'], hf: ['Phi3ForCausalLM'], missing: 'the fused attn_qkv and gate+up tensors (their split at conversion) and LongRoPE factors' },
  { gguf: ['bitnet', 'bitnet-b1.58'], hf: ['BitNetForCausalLM'], missing: 'ternary weights and the sub-norms (attn_sub_norm, ffn_sub_norm)' },
];

export function archByName(name: string): Architecture | undefined {
  return ARCHITECTURES.find((a) => a.name === name);
}

/** The row a config runs (llama unless the config names another). */
export function archOf(c: Config): Architecture {
  return archByName(c.arch ?? 'llama')!;
}

/** The config tagged with its family (left untagged for llama, so a llama file's config equals its source's). */
export function withArch(c: Config, a: Architecture): Config {
  const { arch: _, noRopeEvery: __, ...rest } = c;
  return { ...rest, ...(a.name === 'llama' ? {} : { arch: a.name }), ...(a.noRopeEvery ? { noRopeEvery: a.noRopeEvery } : {}) };
}

export function archByCode(code: number): Architecture | undefined {
  return ARCHITECTURES.find((a) => a.code === code);
}

/** The row of a GGUF general.architecture or a config.json architectures entry, or the one-line refusal naming what is missing. */
export function findArch(name: unknown, format: 'gguf' | 'hf', where: string): Architecture {
  const key = typeof name === 'string' ? name : '';
  const row = ARCHITECTURES.find((a) => (format === 'gguf' ? a.gguf === key : a.hf.includes(key)));
  if (row) return row;
  const runs = ARCHITECTURES.map((a) => (format === 'gguf' ? a.gguf : a.hf[0])).join(', ');
  const shown = typeof name === 'string' ? JSON.stringify(name.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)) : 'missing';
  const refused = REFUSED_ARCHITECTURES.find((r) => (format === 'gguf' ? r.gguf : r.hf).includes(key));
  const what = format === 'gguf' ? 'GGUF architecture' : 'config.json architecture';
  if (refused) throw new ModelFormatError(`${where}: ${what} ${shown} needs ${refused.missing}, which retro does not implement`, `use a model of a family retro runs (${runs})`);
  throw new ModelFormatError(`${where}: ${what} ${shown} is not one retro runs (${runs})`, `use a model of one of these families, or add a row to src/model/arch.ts (docs/adding-an-architecture.md)`);
}

/** A layer tensor's shape for a config: [rows, cols]. */
export function shapeOf(x: LayerTensor, c: Config): [number, number] {
  return [x.rows === 1 ? 1 : DIMS[x.rows].of(c), DIMS[x.cols].of(c)];
}

export function layerMatrices(a: Architecture): LayerTensor[] {
  return a.layer.filter((x) => x.matrix);
}

export function layerVectors(a: Architecture): LayerTensor[] {
  return a.layer.filter((x) => !x.matrix);
}

/** The order run.c declares the layer weights in (the C struct); model.rtr's order is the row's. */
const DECLARATION_ORDER: readonly LayerTensorName[] = ['rms_att', 'q_norm', 'k_norm', 'bq', 'bk', 'bv', 'wq', 'wk', 'wv', 'wo', 'rms_ffn', 'w1', 'w2', 'w3'];

export function declarationOrder(a: Architecture): LayerTensor[] {
  return [...a.layer].sort((x, y) => DECLARATION_ORDER.indexOf(x.name) - DECLARATION_ORDER.indexOf(y.name));
}

/** Row r of a head stored as two halves moved to interleaved pairs: row h*hs + 2i + j comes from h*hs + j*hs/2 + i. */
export function halvesToPairs<T extends Float32Array | Int8Array>(m: T, rows: number, cols: number, hs: number): T {
  const out = (m instanceof Float32Array ? new Float32Array(m.length) : new Int8Array(m.length)) as T;
  const half = hs / 2;
  for (let r = 0; r < rows; r++) {
    const h = Math.floor(r / hs);
    const k = r % hs;
    const src = h * hs + (k % 2) * half + (k >> 1);
    out.set(m.subarray(src * cols, (src + 1) * cols), r * cols);
  }
  return out;
}

/** A matrix whose rows (a vector: whose values) are heads stored as two halves, in pair order; rows start on a head. */
export function pairRows(m: Matrix, hs: number): Matrix {
  if (m.rows === 1) return m.kind === 'f32' ? { ...m, data: halvesToPairs(m.data, m.cols, 1, hs) } : m;
  if (m.kind === 'f32') return { ...m, data: halvesToPairs(m.data, m.rows, m.cols, hs) };
  const groups = m.s.length / m.rows;
  return { ...m, q: halvesToPairs(m.q, m.rows, m.cols, hs), s: halvesToPairs(m.s, m.rows, groups, hs) };
}
