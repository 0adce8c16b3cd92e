/**
 * The quantization kinds: how the target stores a weight matrix. One row per kind; the CLI's
 * choices, the profile schema, the model.rtr writer and reader, plan and the C template all read
 * this table. Adding a kind is adding a row here plus its kernels (docs/architecture.md).
 *
 * The integer kinds are runq's: int values with one float32 scale per group, scale = max|w| / qmax,
 * values rounded half away from zero; groups restart at each row and the last one is short when
 * the row length is not a multiple of the group size. model.rtr stores each row of an integer kind
 * padded with zeros to whole groups (storedCols), so every row and group starts on a group
 * boundary (16 bytes for groups of 32) and a SIMD kernel runs whole groups; the zeros add nothing
 * to any sum.
 */
import { dequantize } from '../reference/math.js';
import { groupsPerRow, type F32Matrix, type IntMatrix, type Matrix } from '../reference/model.js';

/**
 * How a kind lays out a stored row, as ggml's type traits describe a type: values per block, the
 * bits a value takes (a block's bytes are values x bits / 8), and where the block's scales are.
 */
export interface BlockLayout {
  /** Values per block: a fixed count, or 'group' for the group size chosen at conversion (--group-size). */
  values: number | 'group';
  /** Bits of one stored value (values pack low bits first within a byte when below 8). */
  bits: number;
  /**
   * Where the scales are: none (float values); one float32 per group in the tensor's scale region
   * (per-group); inside each block beside its values (in-block); one for the whole tensor (per-tensor).
   */
  scales: 'none' | 'per-group' | 'in-block' | 'per-tensor';
}

export interface QuantKindInfo<N extends string = string> {
  name: N;
  /** The code in model.rtr's header and tensor table, and the C macro RT_<NAME>'s value. */
  code: number;
  /** Largest integer value (0 for float kinds). */
  qmax: number;
  layout: BlockLayout;
  /**
   * What x becomes before the dot product with a matrix of this kind (ggml's `vec_dot_type`):
   * f32 as it is, or q8, runq's int8 with one float32 scale per group of the matrix's group size.
   */
  activation: 'f32' | 'q8';
  /** Bytes of one row of `cols` values (a row starts on a byte). */
  rowBytes(cols: number): number;
  /** A stored row's bytes in words, for docs/model-format.md (padded: the stored values per row). */
  rowBytesDoc: string;
  /** For the bundle README. */
  label(groupSize: number): string;
  /** The C kernel that multiplies a matrix of this kind (`<kernel>_scalar` in kernels/scalar.c.ejs, RT_SIMD_<KERNEL> where a SIMD file has one). */
  kernel: string;
  /** How values sit in a byte, for the C struct's comment (kinds of fewer than 8 bits). */
  packing?: string;
  /**
   * Plan's quality guard: how many times faster than the best option of a more exact kind this
   * kind must be estimated before plan recommends it, and why (what retro quality measured).
   */
  guard: { speedup: number; cost: string };
  /** The rows as stored in the file, `stride` values each, zeros past cols (int kinds; f32 goes through the byte-order writer). */
  pack?(m: IntMatrix, stride: number): Uint8Array;
  unpack?(bytes: Uint8Array, rows: number, cols: number, stride: number): Int8Array;
}

function packQ8(m: IntMatrix, stride: number): Uint8Array {
  if (stride === m.cols) return new Uint8Array(m.q.buffer, m.q.byteOffset, m.q.byteLength);
  const out = new Uint8Array(m.rows * stride);
  for (let r = 0; r < m.rows; r++) out.set(new Uint8Array(m.q.buffer, m.q.byteOffset + r * m.cols, m.cols), r * stride);
  return out;
}

function unpackQ8(b: Uint8Array, rows: number, cols: number, stride: number): Int8Array {
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) q.set(new Int8Array(b.buffer, b.byteOffset + r * stride, cols), r * cols);
  return q;
}

/** Q4 values two per byte, the even column in the low nibble, as 4-bit two's complement. */
function packQ4(m: IntMatrix, stride: number): Uint8Array {
  const rb = Math.ceil(stride / 2);
  const out = new Uint8Array(m.rows * rb);
  for (let r = 0; r < m.rows; r++) {
    for (let j = 0; j < m.cols; j++) out[r * rb + (j >> 1)] |= (m.q[r * m.cols + j] & 15) << ((j & 1) * 4);
  }
  return out;
}

function unpackQ4(b: Uint8Array, rows: number, cols: number, stride: number): Int8Array {
  const rb = Math.ceil(stride / 2);
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const v = (b[r * rb + (j >> 1)] >> ((j & 1) * 4)) & 15;
      q[r * cols + j] = v >= 8 ? v - 16 : v;
    }
  }
  return q;
}

/** Bytes of `values` stored values of `bits` each, packed from the low bits of a byte up. */
const packedBytes = (bits: number) => (values: number) => Math.ceil((values * bits) / 8);

export const QUANT_KINDS = [
  {
    name: 'f32',
    code: 0,
    qmax: 0,
    layout: { values: 1, bits: 32, scales: 'none' },
    activation: 'f32',
    rowBytes: packedBytes(32),
    rowBytesDoc: 'cols x 4',
    label: () => 'float32',
    kernel: 'matmul_f32',
    guard: { speedup: 1, cost: 'none: the reference itself' },
  },
  {
    name: 'q8',
    code: 1,
    qmax: 127,
    layout: { values: 'group', bits: 8, scales: 'per-group' },
    activation: 'q8',
    rowBytes: packedBytes(8),
    rowBytesDoc: 'padded',
    label: (g: number) => `Q8 (int8, groups of ${g})`,
    kernel: 'matmul_q8',
    guard: { speedup: 1.1, cost: 'small: retro quality on stories260K (groups of 32) measured 99.0% top-1 agreement with f32, mean KL 7.5e-4' },
    pack: packQ8,
    unpack: unpackQ8,
  },
  {
    name: 'q4',
    code: 2,
    qmax: 7,
    layout: { values: 'group', bits: 4, scales: 'per-group' },
    activation: 'q8',
    rowBytes: packedBytes(4),
    rowBytesDoc: 'ceil(padded / 2)',
    label: (g: number) => `Q4 (4-bit, two per byte, groups of ${g})`,
    kernel: 'matmul_q4',
    packing: 'two 4-bit values a byte, even column low',
    guard: { speedup: 2, cost: 'large: retro quality on stories260K (groups of 32) measured 81.1% top-1 agreement with f32, mean KL 0.13' },
    pack: packQ4,
    unpack: unpackQ4,
  },
] as const satisfies readonly QuantKindInfo[];

export type QuantKind = (typeof QUANT_KINDS)[number]['name'];
export type IntQuantKind = Exclude<QuantKind, 'f32'>;

/** Kind names in table order, for CLI choices and schemas. */
export const QUANT_NAMES = QUANT_KINDS.map((k) => k.name) as [QuantKind, ...QuantKind[]];
export const INT_QUANT_NAMES = QUANT_NAMES.filter((n) => n !== 'f32') as [IntQuantKind, ...IntQuantKind[]];

export function quantKind(name: QuantKind): QuantKindInfo<QuantKind> {
  return QUANT_KINDS.find((k) => k.name === name)!;
}

/** The kind with this file code, or undefined for a code no kind has. */
export function kindOfCode(code: number): QuantKindInfo<QuantKind> | undefined {
  return QUANT_KINDS.find((k) => k.code === code);
}

export function rowBytes(kind: QuantKind, cols: number): number {
  return quantKind(kind).rowBytes(cols);
}

/** Values in one stored row: cols, or for the integer kinds cols rounded up to whole groups. */
export function storedCols(kind: QuantKind, cols: number, groupSize: number): number {
  return quantKind(kind).layout.values === 'group' ? groupsPerRow(cols, groupSize) * groupSize : cols;
}

/** Bytes of one stored row of a matrix (padding included). */
export function storedRowBytes(kind: QuantKind, cols: number, groupSize: number): number {
  return rowBytes(kind, storedCols(kind, cols, groupSize));
}

export function isIntKind(kind: QuantKind): kind is IntQuantKind {
  return quantKind(kind).qmax > 0;
}

/** runq's quantization of a float matrix to an integer kind. */
export function quantizeMatrix(m: F32Matrix, kind: IntQuantKind, groupSize: number): IntMatrix {
  const { rows, cols, data } = m;
  const qmax = quantKind(kind).qmax;
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
  return { kind, rows, cols, groupSize, q, s } as IntMatrix;
}

export function toF32(m: Matrix): F32Matrix {
  return m.kind === 'f32' ? m : { kind: 'f32', rows: m.rows, cols: m.cols, data: dequantize(m) };
}

/** The matrix in the requested storage; the same kind with the same group size passes through untouched. */
export function convertMatrix(m: Matrix, kind: QuantKind, groupSize: number): Matrix {
  if (!isIntKind(kind)) return toF32(m);
  if (m.kind === kind && m.groupSize === groupSize) return m;
  return quantizeMatrix(toF32(m), kind, groupSize);
}
