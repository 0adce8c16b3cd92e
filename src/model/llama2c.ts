/**
 * llama2.c checkpoints: legacy v0 (7 int32 header, float32), v1 ("ak42",
 * 256-byte header, float32) and v2 ("ak42", Q8_0 with a group size).
 */
import { ModelFormatError } from '../errors.js';
import { kvDim, type Config, type Matrix } from '../reference/model.js';
import type { BinaryFile } from './file.js';
import { validateConfig, type MatrixName, type ModelSource, type VectorName } from './source.js';

export const LLAMA2C_MAGIC = 0x616b3432;
const V1_HEADER_BYTES = 256;

type ArrayName = 'emb' | 'rms_att' | 'rms_ffn' | 'rms_final' | 'wcls' | 'freq_real' | 'freq_imag' | MatrixName;

interface ArrayLayout {
  offset: number;
  count: number; // per layer (or the whole array when not per layer)
  rows: number;
  cols: number;
  quantized: boolean;
}

/** Lays out arrays back to back; a quantized array per layer is int8 values then its float32 scales. */
class Layout {
  readonly arrays = new Map<ArrayName, ArrayLayout>();
  constructor(
    public end: number,
    private readonly groupSize: number,
  ) {}
  f32(name: ArrayName, layers: number, rows: number, cols: number): void {
    this.arrays.set(name, { offset: this.end, count: rows * cols, rows, cols, quantized: false });
    this.end += layers * rows * cols * 4;
  }
  q8(name: ArrayName, layers: number, rows: number, cols: number): void {
    const n = rows * cols;
    this.arrays.set(name, { offset: this.end, count: n, rows, cols, quantized: true });
    this.end += layers * (n + (n / this.groupSize) * 4);
  }
}

function readConfig(view: DataView, at: number): { config: Config; rawVocab: number } {
  const i = (k: number) => view.getInt32(at + 4 * k, true);
  const rawVocab = i(5);
  return {
    config: {
      dim: i(0),
      hiddenDim: i(1),
      nLayers: i(2),
      nHeads: i(3),
      nKvHeads: i(4),
      vocabSize: Math.abs(rawVocab),
      seqLen: i(6),
      ropeTheta: 10000,
      normEps: 1e-5,
    },
    rawVocab,
  };
}

export function openLlama2c(file: BinaryFile): ModelSource {
  const path = file.path;
  if (file.size < 28) {
    throw new ModelFormatError(`${path}: truncated: ${file.size} bytes is smaller than any model header`, 'the file is incomplete or not a model');
  }
  const head = file.view(0, Math.min(file.size, V1_HEADER_BYTES));
  const magic = head.getUint32(0, true);
  let format: ModelSource['format'];
  let config: Config;
  let shared: boolean;
  let groupSize = 0;
  let layout: Layout;
  if (magic === LLAMA2C_MAGIC) {
    if (file.size < V1_HEADER_BYTES) {
      throw new ModelFormatError(`${path}: truncated: the llama2.c header needs 256 bytes, file has ${file.size}`, 'export the model again');
    }
    const version = head.getInt32(4, true);
    if (version !== 1 && version !== 2) {
      throw new ModelFormatError(`${path}: llama2.c format version ${version} is not supported (1 and 2 are)`, 'export with llama2.c export.py --version 1 or 2');
    }
    format = version === 1 ? 'llama2c-v1' : 'llama2c-v2';
    const read = readConfig(head, 8);
    config = read.config;
    // Only v0 signs vocab_size to mean "unshared classifier"; v1/v2 have a flag for it.
    if (read.rawVocab < 0) throw new ModelFormatError(`${path}: impossible model dimensions: vocab_size ${read.rawVocab} is negative in a ${format} header`, 'the header is corrupt');
    validateConfig(config, path);
    shared = head.getUint8(36) !== 0;
    if (version === 2) {
      groupSize = head.getInt32(37, true);
      if (groupSize <= 0 || groupSize > 4096) {
        throw new ModelFormatError(`${path}: Q8_0 group size ${groupSize} is impossible`, 'the header is corrupt');
      }
      for (const [what, n] of [['dim', config.dim], ['hidden_dim', config.hiddenDim]] as const) {
        if (n % groupSize !== 0) {
          throw new ModelFormatError(`${path}: ${what} ${n} is not a multiple of the group size ${groupSize}`, 'export with a group size that divides every row');
        }
      }
    }
    layout = new Layout(V1_HEADER_BYTES, groupSize);
  } else {
    format = 'llama2c-v0';
    const { config: c, rawVocab } = readConfig(head, 0);
    try {
      validateConfig(c, path);
    } catch (e) {
      throw new ModelFormatError(
        `${path}: not a model file: no GGUF or llama2.c magic, and as a legacy llama2.c header the dimensions are impossible (${(e as Error).message.replace(/^.*dimensions: /, '')})`,
        'pass a llama2.c .bin (v0/v1/v2) or a GGUF model',
      );
    }
    config = c;
    shared = rawVocab > 0;
    layout = new Layout(28, 0);
  }

  const c = config;
  const kv = kvDim(c);
  const L = c.nLayers;
  const hs = c.dim / c.nHeads;
  if (format === 'llama2c-v0') {
    layout.f32('emb', 1, c.vocabSize, c.dim);
    layout.f32('rms_att', L, 1, c.dim);
    layout.f32('wq', L, c.dim, c.dim);
    layout.f32('wk', L, kv, c.dim);
    layout.f32('wv', L, kv, c.dim);
    layout.f32('wo', L, c.dim, c.dim);
    layout.f32('rms_ffn', L, 1, c.dim);
    layout.f32('w1', L, c.hiddenDim, c.dim);
    layout.f32('w2', L, c.dim, c.hiddenDim);
    layout.f32('w3', L, c.hiddenDim, c.dim);
    layout.f32('rms_final', 1, 1, c.dim);
    layout.f32('freq_real', 1, c.seqLen, hs / 2);
    layout.f32('freq_imag', 1, c.seqLen, hs / 2);
    if (!shared) layout.f32('wcls', 1, c.vocabSize, c.dim);
  } else {
    const mat = format === 'llama2c-v1' ? layout.f32.bind(layout) : layout.q8.bind(layout);
    layout.f32('rms_att', L, 1, c.dim);
    layout.f32('rms_ffn', L, 1, c.dim);
    layout.f32('rms_final', 1, 1, c.dim);
    mat('emb', 1, c.vocabSize, c.dim);
    mat('wq', L, c.dim, c.dim);
    mat('wk', L, kv, c.dim);
    mat('wv', L, kv, c.dim);
    mat('wo', L, c.dim, c.dim);
    mat('w1', L, c.hiddenDim, c.dim);
    mat('w2', L, c.dim, c.hiddenDim);
    mat('w3', L, c.hiddenDim, c.dim);
    if (!shared) mat('wcls', 1, c.vocabSize, c.dim);
  }
  if (file.size !== layout.end) {
    const how = file.size < layout.end ? 'truncated' : 'has trailing data';
    throw new ModelFormatError(
      `${path}: ${how}: ${format} with dim ${c.dim}, ${c.nLayers} layers, vocab ${c.vocabSize} needs ${layout.end} bytes, file has ${file.size}`,
      file.size < layout.end ? 'the file is incomplete; download or export it again' : 'the header does not match the weights; export the model again',
    );
  }

  const read = (name: ArrayName, layer: number): Matrix => {
    const a = layout.arrays.get(name)!;
    if (!a.quantized) {
      return { kind: 'f32', rows: a.rows, cols: a.cols, data: file.readF32(a.offset + layer * a.count * 4, a.count) };
    }
    const stride = a.count + (a.count / groupSize) * 4;
    const at = a.offset + layer * stride;
    return { kind: 'q8', rows: a.rows, cols: a.cols, groupSize, q: file.readI8(at, a.count), s: file.readF32(at + a.count, a.count / groupSize) };
  };
  const vector = (name: ArrayName, layer: number): Float32Array => {
    const m = read(name, layer);
    return (m as { data: Float32Array }).data;
  };
  return {
    path,
    format,
    config,
    sharedClassifier: shared,
    storage: format === 'llama2c-v2' ? 'q8_0' : 'f32',
    tokenEmbedding: () => read('emb', 0),
    layerVector: (name: VectorName, layer: number) => vector(name as ArrayName, layer),
    layerMatrix: (name: MatrixName, layer: number) => read(name, layer),
    rmsFinal: () => vector('rms_final', 0),
    classifier: () => read(shared ? 'emb' : 'wcls', 0),
    close: () => file.close(),
  };
}
