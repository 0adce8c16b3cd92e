/**
 * A Hugging Face model folder: config.json (LlamaForCausalLM), model.safetensors or shards listed in
 * model.safetensors.index.json, dtypes F32/F16/BF16, read one tensor at a time. Hugging Face stores
 * each Q/K head as two halves (rotate-half RoPE); the engine rotates interleaved pairs, so those rows
 * are put back in pair order, as llama.cpp's converter does. tokenizer.json / tokenizer_config.json
 * are described (kind, size, special ids, chat template) and, when the model is run, tokenizer.json is
 * its vocabulary (read through model/tokenizer.ts, as -z would read it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFormatError, TokenizerError } from '../errors.js';
import { headSize, type Config, type F32Matrix, type Matrix, type Vocab } from '../reference/model.js';
import { readTokenizer } from './tokenizer.js';
import { printable } from '../files.js';
import { archOf, findArch, halvesToPairs, shapeOf, withArch } from './arch.js';
import { BinaryFile } from './file.js';
import { dequantizeGgml, ggmlBytes, ggmlType, type GgmlType } from './ggml/types.js';
import { validateConfig, type MatrixName, type ModelSource, type TensorSummary, type TokenizerInfo, type VectorName } from './source.js';

const MAX_HEADER_BYTES = 100 << 20;
const MAX_JSON_BYTES = 64 << 20;
/** safetensors dtype -> the ggml type with the same bytes. */
const DTYPES: Record<string, number> = { F32: 0, F16: 1, BF16: 30 };

interface Entry {
  file: string;
  dtype: GgmlType;
  dtypeName: string;
  shape: number[];
  begin: number; // absolute byte offset in its file
}

export function isHfFolder(dir: string): boolean {
  return existsSync(join(dir, 'config.json'));
}

function readJson(path: string, what: string): Record<string, unknown> {
  const file = BinaryFile.open(path, what);
  try {
    if (file.size > MAX_JSON_BYTES) throw new ModelFormatError(`${path}: ${file.size} bytes is too large for ${what}`, 'the file is not what it claims to be');
    const v: unknown = JSON.parse(Buffer.from(file.read(0, file.size)).toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError(`${path}: ${what} is not valid JSON: ${(e as Error).message.split('\n')[0]}`, 'the file is corrupt or incomplete');
  } finally {
    file.close();
  }
}

/** The tensor table of one .safetensors file, every entry checked against the file before anything is read. */
function readSafetensorsHeader(file: BinaryFile, into: Map<string, Entry>): void {
  const path = file.path;
  const bad = (what: string) => new ModelFormatError(`${path}: corrupt safetensors: ${what}`, 'the file is corrupt or truncated; download it again');
  if (file.size < 8) throw bad(`${file.size} bytes, smaller than its header length`);
  const n = file.view(0, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, file.size - 8))) throw bad(`header length ${n} does not fit in the file (${file.size} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(file.read(8, Number(n))).toString('utf8'));
  } catch {
    throw bad('the header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(`the header is ${header === null ? 'null' : Array.isArray(header) ? 'an array' : `a ${typeof header}`}, not a JSON object of tensors`);
  const dataStart = 8 + Number(n);
  const spans: { name: string; b: number; end: number }[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = (typeof v === 'object' && v !== null ? v : {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtypeName = typeof e.dtype === 'string' ? e.dtype : JSON.stringify(e.dtype) ?? 'missing';
    // An own-property lookup: a dtype such as "constructor" names no table row.
    const id = Object.hasOwn(DTYPES, dtypeName) ? DTYPES[dtypeName] : undefined;
    if (id === undefined) {
      throw new ModelFormatError(`${path}: tensor ${printable(name, 80)} has dtype ${printable(dtypeName, 40)}; retro reads F32, F16 and BF16 safetensors`, 'save the model in float32, float16 or bfloat16');
    }
    const shape = e.shape;
    const offsets = e.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0) || !Array.isArray(offsets) || offsets.length !== 2) {
      throw bad(`tensor ${name} has no valid shape / data_offsets`);
    }
    const [b, end] = offsets.map(Number);
    const count = (shape as number[]).reduce((a, d) => a * d, 1);
    const dtype = ggmlType(id, `${path}: tensor ${name}`);
    if (!Number.isSafeInteger(b) || !Number.isSafeInteger(end) || b < 0 || end < b || dataStart + end > file.size) {
      throw bad(`tensor ${name} lies at bytes ${b}..${end} of the data, past the end of the file (${file.size - dataStart} data bytes)`);
    }
    if (end - b !== ggmlBytes(dtype, count)) throw bad(`tensor ${name} is ${dtypeName} ${JSON.stringify(shape)} (${ggmlBytes(dtype, count)} bytes) but spans ${end - b} bytes`);
    into.set(name, { file: path, dtype, dtypeName, shape: shape as number[], begin: dataStart + b });
    spans.push({ name, b, end });
  }
  // Two tensors sharing bytes would each read the other's values.
  spans.sort((x, y) => x.b - y.b || x.end - y.end);
  for (let i = 1; i < spans.length; i++) {
    const [p, q] = [spans[i - 1], spans[i]];
    if (q.b < p.end) throw bad(`tensors ${printable(p.name, 80)} (bytes ${p.b}..${p.end}) and ${printable(q.name, 80)} (bytes ${q.b}..${q.end}) overlap`);
  }
}

const num = (cfg: Record<string, unknown>, key: string, path: string, fallback?: number): number => {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ModelFormatError(`${path}: config.json ${key} is missing or not a number`, 'the folder is not a complete Hugging Face Llama model');
  }
  return v;
};

/** Llama 3's RoPE frequency factors from config.json's rope_scaling, computed in float32 as llama.cpp's converter does. */
export function llama3RopeFactors(hs: number, theta: number, s: Record<string, unknown>, path: string): Float32Array {
  const f = Math.fround;
  const factor = num(s, 'factor', path, 8);
  const low = num(s, 'low_freq_factor', path, 1);
  const high = num(s, 'high_freq_factor', path, 4);
  const old = num(s, 'original_max_position_embeddings', path, 8192);
  // Each is a divisor below: zero, a negative or high <= low would make NaN or infinite RoPE tables.
  const refuse = (what: string) => new ModelFormatError(`${path}: config.json rope_scaling ${what}`, 'use the model\'s own config.json (Llama 3.1/3.2 have factor 8 or 32, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 8192)');
  if (!(factor > 0)) throw refuse(`factor ${factor} is not positive`);
  if (!(low > 0) || !(high > low)) throw refuse(`low_freq_factor ${low} and high_freq_factor ${high} are not 0 < low < high`);
  if (!(old > 0)) throw refuse(`original_max_position_embeddings ${old} is not positive`);
  const lowWavelen = old / low;
  const highWavelen = old / high;
  return Float32Array.from({ length: hs / 2 }, (_, i) => {
    const freq = f(1 / f(Math.pow(theta, f(f(2 * i) / hs))));
    const wavelen = f((2 * Math.PI) / freq);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return factor;
    const smooth = f(f(f(old / wavelen) - low) / (high - low));
    return f(1 / f(f(f(1 - smooth) / factor) + smooth));
  });
}

function hfConfig(cfg: Record<string, unknown>, path: string): Config {
  const archs = cfg.architectures;
  const arch = findArch(Array.isArray(archs) ? archs[0] : archs, 'hf', path);
  const refuse = (what: string) => new ModelFormatError(`${path}: ${what}`, `use a plain ${arch.hf[0]} model`);
  for (const k of ['attention_bias', 'mlp_bias']) if (cfg[k] === true && !arch.layer.some((x) => x.name === 'bq')) throw refuse(`config.json ${k} is true: bias vectors, which retro does not implement for ${arch.name}`);
  if (cfg.use_sliding_window === true) throw refuse('config.json use_sliding_window is true: sliding-window attention, which retro does not implement');
  const interval = cfg.no_rope_layer_interval ?? 0;
  if (interval !== arch.noRopeEvery) throw refuse(`config.json no_rope_layer_interval ${JSON.stringify(interval)}: retro runs ${arch.name} with ${arch.noRopeEvery ? `every ${arch.noRopeEvery}th layer without RoPE` : 'RoPE on every layer'}`);
  if (cfg.hidden_act !== undefined && cfg.hidden_act !== 'silu') throw refuse(`config.json hidden_act ${JSON.stringify(cfg.hidden_act)}: retro implements silu`);
  const dim = num(cfg, 'hidden_size', path);
  const nHeads = num(cfg, 'num_attention_heads', path);
  // head_dim defaults to hidden_size / num_attention_heads: a bad count is named as itself.
  if (!Number.isInteger(nHeads) || nHeads <= 0) throw new ModelFormatError(`${path}: config.json num_attention_heads ${nHeads} is not a positive integer`, 'the folder is not a complete Hugging Face Llama model');
  const hs = num(cfg, 'head_dim', path, dim / nHeads);
  const theta = num(cfg, 'rope_theta', path, 10000);
  const config: Config = {
    dim,
    hiddenDim: num(cfg, 'intermediate_size', path),
    nLayers: num(cfg, 'num_hidden_layers', path),
    nHeads,
    nKvHeads: num(cfg, 'num_key_value_heads', path, nHeads),
    vocabSize: num(cfg, 'vocab_size', path),
    seqLen: num(cfg, 'max_position_embeddings', path),
    ropeTheta: theta,
    normEps: num(cfg, 'rms_norm_eps', path, 1e-6),
    ...(hs !== dim / nHeads ? { headSize: hs } : {}),
  };
  const scaling = cfg.rope_scaling as Record<string, unknown> | null | undefined;
  if (scaling) {
    const type = scaling.rope_type ?? scaling.type;
    if (type !== 'llama3') throw refuse(`config.json rope_scaling of type ${JSON.stringify(type)}, which retro does not implement (it does llama3)`);
    config.ropeFreqFactors = llama3RopeFactors(hs, theta, scaling, path);
  }
  Object.assign(config, withArch(config, arch));
  validateConfig(config, path);
  return config;
}

function tokenizerInfo(dir: string, cfg: Record<string, unknown>): TokenizerInfo | undefined {
  const tj = join(dir, 'tokenizer.json');
  if (!existsSync(tj)) return undefined;
  const tok = readJson(tj, 'tokenizer.json');
  const model = (typeof tok.model === 'object' && tok.model !== null ? tok.model : {}) as { type?: unknown; vocab?: unknown };
  // Only a description here: malformed entries are left to the tokenizer reader, which names them.
  const added = (Array.isArray(tok.added_tokens) ? (tok.added_tokens as unknown[]) : []).filter((t): t is { id: number; content: string } => typeof t === 'object' && t !== null && Number.isSafeInteger((t as { id?: unknown }).id));
  const size = Math.max(typeof model.vocab === 'object' && model.vocab !== null ? Object.keys(model.vocab).length : 0, ...added.map((t) => t.id + 1));
  const tcPath = join(dir, 'tokenizer_config.json');
  const tc = existsSync(tcPath) ? readJson(tcPath, 'tokenizer_config.json') : {};
  const idOf = (v: unknown): number | undefined => {
    const text = typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content;
    return added.find((t) => t.content === text)?.id;
  };
  const first = (v: unknown) => (Array.isArray(v) ? Number(v[0]) : typeof v === 'number' ? v : undefined);
  const eot = added.find((t) => t.content === '<|eot_id|>')?.id;
  return {
    kind: `tokenizer.json ${String(model.type)}`,
    size,
    chatTemplate: typeof tc.chat_template === 'string' || Array.isArray(tc.chat_template),
    bosId: first(cfg.bos_token_id) ?? idOf(tc.bos_token) ?? 1,
    eosId: first(cfg.eos_token_id) ?? idOf(tc.eos_token) ?? 2,
    ...(eot !== undefined ? { eotId: eot } : {}),
  };
}

export function openHfFolder(dir: string): ModelSource {
  const cfgPath = join(dir, 'config.json');
  const cfg = readJson(cfgPath, 'config.json');
  const config = hfConfig(cfg, cfgPath);

  const entries = new Map<string, Entry>();
  const files = new Map<string, BinaryFile>();
  const indexPath = join(dir, 'model.safetensors.index.json');
  const shardNames: string[] = [];
  if (existsSync(indexPath)) {
    const map = readJson(indexPath, 'model.safetensors.index.json').weight_map;
    if (typeof map !== 'object' || map === null) throw new ModelFormatError(`${indexPath}: no weight_map`, 'the index is corrupt; download it again');
    for (const shard of new Set(Object.values(map as Record<string, string>))) {
      if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) throw new ModelFormatError(`${indexPath}: shard name ${JSON.stringify(shard)} is not a file in the folder`, 'the index is corrupt');
      shardNames.push(shard);
    }
  } else {
    shardNames.push('model.safetensors');
  }
  try {
    for (const shard of shardNames) {
      const file = BinaryFile.open(join(dir, shard), 'safetensors shard');
      files.set(file.path, file);
      readSafetensorsHeader(file, entries);
    }
  } catch (e) {
    for (const f of files.values()) f.close();
    throw e;
  }

  const shared = !entries.has('lm_head.weight') || cfg.tie_word_embeddings === true;
  const hs = headSize(config);
  const row = archOf(config);
  const byName = new Map(row.layer.map((x) => [x.name, x]));
  const expected = new Map<string, [number, number]>([
    ['model.embed_tokens.weight', [config.vocabSize, config.dim]],
    ['model.norm.weight', [1, config.dim]],
  ]);
  if (!shared) expected.set('lm_head.weight', [config.vocabSize, config.dim]);
  for (let l = 0; l < config.nLayers; l++) for (const x of row.layer) expected.set(`model.layers.${l}.${x.hf}`, shapeOf(x, config));
  for (const [name, [rows, cols]] of expected) {
    const e = entries.get(name);
    if (!e) throw new ModelFormatError(`${dir}: tensor ${name} is missing from the safetensors`, 'the folder is not a complete Llama model');
    const [er, ec] = e.shape.length === 1 ? [1, e.shape[0]] : e.shape;
    if (e.shape.length > 2 || er !== rows || ec !== cols) {
      throw new ModelFormatError(`${e.file}: tensor ${name} is ${JSON.stringify(e.shape)}, expected ${rows}x${cols}`, 'config.json does not match the weights');
    }
  }
  for (const name of entries.keys()) {
    if (!expected.has(name) && !/rotary_emb\.inv_freq$/.test(name) && name !== 'lm_head.weight') {
      throw new ModelFormatError(`${dir}: tensor ${name} is not part of the ${row.name} layers retro runs`, `use a plain ${row.hf[0]} model (src/model/arch.ts lists each family's tensors)`);
    }
  }

  // values [at, at + count) of a tensor (all of it by default)
  const read = (name: string, at = 0, count?: number): Float32Array => {
    const e = entries.get(name)!;
    const n = count ?? e.shape.reduce((a, d) => a * d, 1);
    return dequantizeGgml(e.dtype, files.get(e.file)!.read(e.begin + ggmlBytes(e.dtype, at), ggmlBytes(e.dtype, n)), n);
  };
  // rows [row0, row0 + rows) of a matrix; Q and K chunks start and end on a head, so moving their rows into pairs works alone
  const matrix = (name: string, rows: number, cols: number, heads?: boolean, row0 = 0): Matrix => {
    const data = read(name, row0 * cols, rows * cols);
    return { kind: 'f32', rows, cols, data: heads ? halvesToPairs(data, rows, cols, hs) : data };
  };
  const classifierName = shared ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const layer = (n: MatrixName | VectorName, l: number) => `model.layers.${l}.${byName.get(n)!.hf}`;
  // Hugging Face stores every family's Q/K heads as two halves (rotate-half RoPE)
  const layerMatrix = (n: MatrixName | VectorName, l: number, row0?: number, rows?: number): Matrix => {
    const x = byName.get(n)!;
    const [r, c] = shapeOf(x, config);
    return x.matrix ? matrix(layer(n, l), rows ?? r, c, x.ropeRows, row0) : { kind: 'f32', rows: 1, cols: c, data: x.ropeRows ? halvesToPairs(read(layer(n, l)), c, 1, hs) : read(layer(n, l)) };
  };
  const types = new Set([...expected.keys()].filter((n) => expected.get(n)![0] > 1).map((n) => entries.get(n)!.dtypeName));
  const tensors: TensorSummary[] = [...entries].map(([name, e]) => ({ name, type: e.dtypeName, shape: e.shape, bytes: ggmlBytes(e.dtype, e.shape.reduce((a, d) => a * d, 1)) }));
  const tokenizer = tokenizerInfo(dir, cfg);
  let vocab: Vocab | undefined;
  return {
    path: dir,
    format: 'hf-safetensors',
    config,
    sharedClassifier: shared,
    storage: types.size > 1 ? 'mixed' : [...types][0].toLowerCase(),
    // The folder's own tokenizer.json (read when first asked for: inspect only describes it).
    get vocab(): Vocab | undefined {
      if (!tokenizer) return undefined;
      vocab ??= readTokenizer(join(dir, 'tokenizer.json'), config.vocabSize);
      return vocab;
    },
    tensors,
    ...(tokenizer ? { tokenizer } : {}),
    tokenEmbedding: () => matrix('model.embed_tokens.weight', config.vocabSize, config.dim),
    layerVector: (n: VectorName, l: number) => (layerMatrix(n, l) as F32Matrix).data,
    layerMatrix: (n: MatrixName, l: number) => layerMatrix(n, l),
    rmsFinal: () => read('model.norm.weight'),
    classifier: () => matrix(classifierName, config.vocabSize, config.dim),
    readRows: (n, l, row0, rows) =>
      n === 'token_embedding' || n === 'classifier'
        ? matrix(n === 'classifier' ? classifierName : 'model.embed_tokens.weight', rows, config.dim, false, row0)
        : layerMatrix(n, l, row0, rows),
    close: () => {
      for (const f of files.values()) f.close();
    },
  };
}
