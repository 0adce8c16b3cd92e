/** Converts a model to the target's model.rtr, one tensor in memory at a time. */
import { convertMatrix, type QuantKind } from '../quant/kinds.js';
import { ropeTables } from '../reference/forward.js';
import { headSize, type Matrix, type Vocab } from '../reference/model.js';
import { planNative, type NativeTensorName } from './format.js';
import { NativeWriter, type ByteOrder } from './native.js';
import type { MatrixName, ModelSource, VectorName } from './source.js';

export interface ConvertTarget {
  id: string;
  byteOrder: ByteOrder;
  alignment: number;
}

/** Streams the source into the native file in the order format.ts lays it out; returns its size. */
export function convertModel(src: ModelSource, vocab: Vocab, target: ConvertTarget, quant: QuantKind, groupSize: number, path: string): number {
  const layout = planNative(src.config, vocab, quant, groupSize, target.alignment, src.sharedClassifier, src.path);
  // RoPE angles ship as tables: the same numbers on every target, no libm sin/cos (which differ, or trap on old CPUs).
  const rope = ropeTables(src.config);
  const half = headSize(src.config) / 2;
  const tensor = (name: NativeTensorName, layer: number): Matrix | Float32Array => {
    switch (name) {
      case 'token_embedding':
        return convertMatrix(src.tokenEmbedding(), quant, groupSize);
      case 'wcls':
        return convertMatrix(src.classifier(), quant, groupSize);
      case 'rms_att':
      case 'rms_ffn':
        return src.layerVector(name as VectorName, layer);
      case 'rms_final':
        return src.rmsFinal();
      case 'rope_cos':
        return { kind: 'f32', rows: src.config.seqLen, cols: half, data: rope.cos };
      case 'rope_sin':
        return { kind: 'f32', rows: src.config.seqLen, cols: half, data: rope.sin };
      default:
        return convertMatrix(src.layerMatrix(name as MatrixName, layer), quant, groupSize);
    }
  };
  const writer = new NativeWriter(path, layout, target.byteOrder, target.id, vocab);
  try {
    for (const e of layout.entries) writer.write(tensor(e.name, e.layer));
    writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return layout.size;
}
