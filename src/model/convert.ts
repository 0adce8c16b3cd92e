/** Converts a model to the target's model.rtr, one tensor (or a chunk of its rows) in memory at a time. */
import { convertMatrix, type QuantKind } from '../quant/kinds.js';
import { ropeTables } from '../reference/forward.js';
import { headSize, type Matrix, type Vocab } from '../reference/model.js';
import { archOf, layerMatrices } from './arch.js';
import { planNative, type NativeTensorName } from './format.js';
import { NativeWriter, type ByteOrder } from './native.js';
import type { MatrixName, MatrixRef, ModelSource, VectorName } from './source.js';

/** Float32 bytes of source rows converted at a time, by default. */
export const CHUNK_BYTES = 8 << 20;


export interface ConvertTarget {
  id: string;
  byteOrder: ByteOrder;
  alignment: number;
}

/** Streams the source into the native file in the order format.ts lays it out; returns its size. */
export function convertModel(src: ModelSource, vocab: Vocab, target: ConvertTarget, quant: QuantKind, groupSize: number, path: string, chunkBytes = CHUNK_BYTES): number {
  const steps = convertSteps(src, vocab, target, quant, groupSize, path, chunkBytes);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same, giving the event loop a turn after each tensor or chunk: a Ctrl-C during a long
 * conversion is handled at once instead of when it ends.
 */
export async function convertModelYielding(src: ModelSource, vocab: Vocab, target: ConvertTarget, quant: QuantKind, groupSize: number, path: string, chunkBytes = CHUNK_BYTES): Promise<number> {
  const steps = convertSteps(src, vocab, target, quant, groupSize, path, chunkBytes);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise((ok) => setImmediate(ok));
  }
}

/** The conversion, one written tensor or chunk per step; its value is the file's size. */
function* convertSteps(src: ModelSource, vocab: Vocab, target: ConvertTarget, quant: QuantKind, groupSize: number, path: string, chunkBytes: number): Generator<void, number> {
  const layout = planNative(src.config, vocab, quant, groupSize, target.alignment, src.sharedClassifier, src.path);
  // RoPE angles ship as tables: the same numbers on every target, no libm sin/cos (which differ, or trap on old CPUs).
  const rope = ropeTables(src.config);
  const matrix = new Set<string>(layerMatrices(archOf(src.config)).map((x) => x.name));
  const isMatrixRef = (name: string): name is MatrixRef => name === 'token_embedding' || name === 'classifier' || matrix.has(name);
  const half = headSize(src.config) / 2;
  const tensor = (name: NativeTensorName, layer: number): Matrix | Float32Array => {
    switch (name) {
      case 'token_embedding':
        return convertMatrix(src.tokenEmbedding(), quant, groupSize);
      case 'wcls':
        return convertMatrix(src.classifier(), quant, groupSize);
      case 'rms_final':
        return src.rmsFinal();
      case 'rope_cos':
        return { kind: 'f32', rows: src.config.seqLen, cols: half, data: rope.cos };
      case 'rope_sin':
        return { kind: 'f32', rows: src.config.seqLen, cols: half, data: rope.sin };
      default:
        return matrix.has(name) ? convertMatrix(src.layerMatrix(name as MatrixName, layer), quant, groupSize) : src.layerVector(name as VectorName, layer);
    }
  };
  const writer = new NativeWriter(path, layout, target.byteOrder, target.id, vocab);
  // Where the source reads part of a tensor, matrices come in chunks of about chunkBytes as float32,
  // a whole number of heads (readRows' rule): peak memory is a chunk, not a 128K x 2048 embedding.
  const hs = headSize(src.config);
  const chunkRows = (cols: number) => Math.max(hs, Math.floor(chunkBytes / (cols * 4) / hs) * hs);
  try {
    for (const e of layout.entries) {
      const ref = e.name === 'wcls' ? 'classifier' : e.name;
      if (!src.readRows || !isMatrixRef(ref)) {
        writer.write(tensor(e.name, e.layer));
        yield;
        continue;
      }
      const step = chunkRows(e.cols);
      for (let r0 = 0; r0 < e.rows; r0 += step) {
        writer.write(convertMatrix(src.readRows(ref, e.layer, r0, Math.min(step, e.rows - r0)), quant, groupSize), r0);
        yield;
      }
    }
    writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return layout.size;
}
