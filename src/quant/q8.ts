/**
 * Weight conversion between float32, Q8 (int8 + float32 scale per group) and Q4 (4-bit values
 * in [-7, 7] + float32 scale per group); groups restart at each row, and the last group is short
 * when the row length is not a multiple of the group size. Scales follow runq: max|w| / 127
 * (or / 7), values round half away from zero.
 */
import { dequantize } from '../reference/math.js';
import { groupsPerRow, type F32Matrix, type IntMatrix, type Matrix, type Q4Matrix, type Q8Matrix } from '../reference/model.js';

export type QuantKind = 'f32' | 'q8' | 'q4';

export function quantizeQ8(m: F32Matrix, groupSize: number): Q8Matrix {
  return { ...quantizeInt(m, groupSize, 127), kind: 'q8' };
}

export function quantizeQ4(m: F32Matrix, groupSize: number): Q4Matrix {
  return { ...quantizeInt(m, groupSize, 7), kind: 'q4' };
}

function quantizeInt(m: F32Matrix, groupSize: number, qmax: number): Omit<IntMatrix, 'kind'> {
  const { rows, cols, data } = m;
  const groups = groupsPerRow(cols, groupSize);
  const q = new Int8Array(rows * cols);
  const s = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const a = r * cols + g * groupSize;
      const b = r * cols + Math.min((g + 1) * groupSize, cols);
      let max = 0;
      for (let i = a; i < b; i++) max = Math.max(max, Math.abs(data[i]));
      const scale = Math.fround(max / qmax);
      s[r * groups + g] = scale;
      for (let i = a; i < b; i++) {
        const v = scale === 0 ? 0 : Math.fround(data[i] / scale);
        q[i] = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
      }
    }
  }
  return { rows, cols, groupSize, q, s };
}

export function toF32(m: Matrix): F32Matrix {
  return m.kind === 'f32' ? m : { kind: 'f32', rows: m.rows, cols: m.cols, data: dequantize(m) };
}

/** The matrix in the requested storage; the same kind with the same group size passes through untouched. */
export function convertMatrix(m: Matrix, kind: QuantKind, groupSize: number): Matrix {
  if (kind === 'f32') return toF32(m);
  if (m.kind === kind && m.groupSize === groupSize) return m;
  return kind === 'q8' ? quantizeQ8(toF32(m), groupSize) : quantizeQ4(toF32(m), groupSize);
}
