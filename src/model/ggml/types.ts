/**
 * The GGML tensor types retro reads, one row each: id, name, elements per block, bytes per block,
 * and the dequantizer that turns blocks into float32 exactly as ggml's `dequantize_row_*` does
 * (every product and difference rounded to float32 in ggml's order, so the values are bit-identical).
 * Layouts are ggml's (ggml-common.h): little-endian, f16 scales, K-quants in 256-value super-blocks.
 */
import { ModelFormatError } from '../../errors.js';

const f = Math.fround;
const QK_K = 256;

/** IEEE half to float (exact). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const HALF = new Float32Array(65536);
for (let h = 0; h < 65536; h++) HALF[h] = f16ToF32(h);
const bf16Bits = new Uint32Array(1);
const bf16Value = new Float32Array(bf16Bits.buffer);

/** Reads `nBlocks` blocks starting at byte `at` of `b` into `y` from index `yo`. */
type Dequantize = (b: Uint8Array, at: number, nBlocks: number, y: Float32Array, yo: number) => void;

export interface GgmlType {
  id: number;
  name: string;
  blockSize: number; // elements per block
  typeSize: number; // bytes per block
  dequantize: Dequantize;
}

const half = (b: Uint8Array, at: number): number => HALF[b[at] | (b[at + 1] << 8)];

/** The 6-bit scale and min of sub-block j in Q4_K/Q5_K's 12-byte packing (ggml's get_scale_min_k4). */
function scaleMinK4(j: number, q: Uint8Array, at: number): [number, number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 0xf) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}

/** Q3_K's 16 signed 6-bit scales from its 12-byte packing: low 4 bits in bytes 0..7, high 2 bits in 8..11. */
function scalesQ3K(q: Uint8Array, at: number, out: Int8Array): void {
  for (let j = 0; j < 16; j++) {
    const low = j < 8 ? q[at + j] & 0xf : q[at + j - 8] >> 4;
    const high = (q[at + 8 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3;
    out[j] = (low | (high << 4)) - 32;
  }
}

const F32: Dequantize = (b, at, n, y, yo) => {
  const v = new DataView(b.buffer, b.byteOffset + at, n * 4);
  for (let i = 0; i < n; i++) y[yo + i] = v.getFloat32(i * 4, true);
};

const F16: Dequantize = (b, at, n, y, yo) => {
  for (let i = 0; i < n; i++) y[yo + i] = half(b, at + i * 2);
};

const BF16: Dequantize = (b, at, n, y, yo) => {
  for (let i = 0; i < n; i++) {
    bf16Bits[0] = (b[at + i * 2] | (b[at + i * 2 + 1] << 8)) << 16;
    y[yo + i] = bf16Value[0];
  }
};

const Q8_0: Dequantize = (b, at, n, y, yo) => {
  for (let i = 0; i < n; i++, at += 34, yo += 32) {
    const d = half(b, at);
    for (let j = 0; j < 32; j++) y[yo + j] = f(((b[at + 2 + j] << 24) >> 24) * d);
  }
};

/** Q4_0/Q4_1/Q5_0/Q5_1: 32 values, low nibbles first then high nibbles; Q5 adds a fifth bit from a u32. */
function legacy(bits: 4 | 5, withMin: boolean): Dequantize {
  const head = withMin ? 4 : 2;
  const hbytes = bits === 5 ? 4 : 0;
  const size = head + hbytes + 16;
  const offset = withMin ? 0 : -(1 << (bits - 1));
  return (b, at, n, y, yo) => {
    for (let i = 0; i < n; i++, at += size, yo += 32) {
      const d = half(b, at);
      const m = withMin ? half(b, at + 2) : 0;
      const qh = hbytes ? (b[at + head] | (b[at + head + 1] << 8) | (b[at + head + 2] << 16) | (b[at + head + 3] << 24)) >>> 0 : 0;
      const qs = at + head + hbytes;
      for (let j = 0; j < 16; j++) {
        const x0 = (b[qs + j] & 0xf) | (((qh >>> j) << 4) & 0x10);
        const x1 = (b[qs + j] >> 4) | ((qh >>> (j + 12)) & 0x10);
        y[yo + j] = withMin ? f(f(x0 * d) + m) : f((x0 + offset) * d);
        y[yo + j + 16] = withMin ? f(f(x1 * d) + m) : f((x1 + offset) * d);
      }
    }
  };
}

// block_q2_K: scales[16] (4-bit scale | 4-bit min), qs[64], d, dmin
const Q2_K: Dequantize = (b, at, n, y, yo) => {
  for (let i = 0; i < n; i++, at += 84) {
    const d = half(b, at + 80);
    const min = half(b, at + 82);
    let is = 0;
    for (let half128 = 0; half128 < 2; half128++) {
      const q = at + 16 + half128 * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 2; part++) {
          const sc = b[at + is++];
          const dl = f(d * (sc & 0xf));
          const ml = f(min * (sc >> 4));
          for (let l = 0; l < 16; l++) y[yo++] = f(f(dl * ((b[q + part * 16 + l] >> shift) & 3)) - ml);
        }
      }
    }
  }
};

// block_q3_K: hmask[32], qs[64], scales[12], d
const Q3_K: Dequantize = (() => {
  const scales = new Int8Array(16);
  return (b, at, n, y, yo) => {
    for (let i = 0; i < n; i++, at += 110) {
      const dAll = half(b, at + 108);
      scalesQ3K(b, at + 96, scales);
      let is = 0;
      let m = 1;
      for (let half128 = 0; half128 < 2; half128++) {
        const q = at + 32 + half128 * 32;
        for (let shift = 0; shift < 8; shift += 2, m <<= 1) {
          for (let part = 0; part < 2; part++) {
            const dl = f(dAll * scales[is++]);
            for (let l = 0; l < 16; l++) {
              const k = part * 16 + l;
              y[yo++] = f(dl * (((b[q + k] >> shift) & 3) - (b[at + k] & m ? 0 : 4)));
            }
          }
        }
      }
    }
  };
})();

/** Q4_K and Q5_K: d, dmin, 12 bytes of 6-bit scales/mins, (Q5: qh[32]), qs[128]; 8 sub-blocks of 32. */
function kQuant45(fifthBit: boolean): Dequantize {
  const size = fifthBit ? 176 : 144;
  return (b, at, n, y, yo) => {
    for (let i = 0; i < n; i++, at += size) {
      const d = half(b, at);
      const min = half(b, at + 2);
      const qh = at + 16;
      let ql = at + (fifthBit ? 48 : 16);
      let u1 = 1;
      let u2 = 2;
      for (let is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
        const [sc1, m1i] = scaleMinK4(is, b, at + 4);
        const [sc2, m2i] = scaleMinK4(is + 1, b, at + 4);
        const d1 = f(d * sc1);
        const m1 = f(min * m1i);
        const d2 = f(d * sc2);
        const m2 = f(min * m2i);
        for (let l = 0; l < 32; l++) y[yo++] = f(f(d1 * ((b[ql + l] & 0xf) + (fifthBit && b[qh + l] & u1 ? 16 : 0))) - m1);
        for (let l = 0; l < 32; l++) y[yo++] = f(f(d2 * ((b[ql + l] >> 4) + (fifthBit && b[qh + l] & u2 ? 16 : 0))) - m2);
      }
    }
  };
}

// block_q6_K: ql[128], qh[64], scales[16] (int8), d
const Q6_K: Dequantize = (b, at, n, y, yo) => {
  for (let i = 0; i < n; i++, at += 210, yo += QK_K) {
    const d = half(b, at + 208);
    for (let h = 0; h < 2; h++) {
      const ql = at + h * 64;
      const qh = at + 128 + h * 32;
      const sc = at + 192 + h * 8;
      const out = yo + h * 128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((b[ql + l] & 0xf) | (((b[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 0xf) | (((b[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) - 32;
        const s = (k: number) => (b[sc + is + k] << 24) >> 24;
        y[out + l] = f(f(d * s(0)) * q1);
        y[out + l + 32] = f(f(d * s(2)) * q2);
        y[out + l + 64] = f(f(d * s(4)) * q3);
        y[out + l + 96] = f(f(d * s(6)) * q4);
      }
    }
  }
};

/** Trit n (0..4) of a base-3 byte, as ggml reads it: the byte times 3^n (mod 256), then times 3, the top bits. */
const trit = (byte: number, pow3: number): number => ((((byte * pow3) & 0xff) * 3) >> 8) - 1;
const POW3 = [1, 3, 9, 27, 81];

// block_tq1_0: qs[48] (5 trits a byte), qh[4] (4 trits a byte), d; values in ggml's order
const TQ1_0: Dequantize = (b, at, n, y, yo) => {
  for (let i = 0; i < n; i++, at += 54) {
    const d = half(b, at + 52);
    const put = (byte: number, p: number) => (y[yo++] = f(trit(byte, p) * d));
    for (const [start, width] of [[0, 32], [32, 16]]) {
      for (let p = 0; p < 5; p++) for (let m = 0; m < width; m++) put(b[at + start + m], POW3[p]);
    }
    for (let p = 0; p < 4; p++) for (let j = 0; j < 4; j++) put(b[at + 48 + j], POW3[p]);
  }
};

// block_tq2_0: qs[64] (4 two-bit values a byte, value - 1), d
const TQ2_0: Dequantize = (b, at, n, y, yo) => {
  for (let i = 0; i < n; i++, at += 66) {
    const d = half(b, at + 64);
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) for (let m = 0; m < 32; m++) y[yo++] = f((((b[at + j + m] >> (2 * l)) & 3) - 1) * d);
    }
  }
};

export const GGML_TYPES: readonly GgmlType[] = [
  { id: 0, name: 'F32', blockSize: 1, typeSize: 4, dequantize: F32 },
  { id: 1, name: 'F16', blockSize: 1, typeSize: 2, dequantize: F16 },
  { id: 30, name: 'BF16', blockSize: 1, typeSize: 2, dequantize: BF16 },
  { id: 8, name: 'Q8_0', blockSize: 32, typeSize: 34, dequantize: Q8_0 },
  { id: 2, name: 'Q4_0', blockSize: 32, typeSize: 18, dequantize: legacy(4, false) },
  { id: 3, name: 'Q4_1', blockSize: 32, typeSize: 20, dequantize: legacy(4, true) },
  { id: 6, name: 'Q5_0', blockSize: 32, typeSize: 22, dequantize: legacy(5, false) },
  { id: 7, name: 'Q5_1', blockSize: 32, typeSize: 24, dequantize: legacy(5, true) },
  { id: 10, name: 'Q2_K', blockSize: QK_K, typeSize: 84, dequantize: Q2_K },
  { id: 11, name: 'Q3_K', blockSize: QK_K, typeSize: 110, dequantize: Q3_K },
  { id: 12, name: 'Q4_K', blockSize: QK_K, typeSize: 144, dequantize: kQuant45(false) },
  { id: 13, name: 'Q5_K', blockSize: QK_K, typeSize: 176, dequantize: kQuant45(true) },
  { id: 14, name: 'Q6_K', blockSize: QK_K, typeSize: 210, dequantize: Q6_K },
  { id: 34, name: 'TQ1_0', blockSize: QK_K, typeSize: 54, dequantize: TQ1_0 },
  { id: 35, name: 'TQ2_0', blockSize: QK_K, typeSize: 66, dequantize: TQ2_0 },
];

/** ggml's names for the types retro does not read, so a refusal can say what the file holds. */
const OTHER_NAMES: Record<number, string> = {
  9: 'Q8_1', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S',
  23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 39: 'MXFP4',
  40: 'NVFP4', 41: 'Q1_0', 42: 'Q2_0',
};

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));

export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? OTHER_NAMES[id] ?? `unknown type ${id}`;
}

/** The type row for `id`, or one error naming the type, the tensor and the types that work. */
export function ggmlType(id: number, where: string): GgmlType {
  const t = BY_ID.get(id);
  if (t) return t;
  throw new ModelFormatError(
    `${where} has GGML type ${ggmlTypeName(id)}, which retro does not read (it reads ${GGML_TYPES.map((x) => x.name).join(', ')})`,
    'quantize the model to one of those types with llama.cpp (llama-quantize ... Q4_K_M)',
  );
}

/** Bytes of `n` elements of type `t`; n must be a whole number of blocks. */
export function ggmlBytes(t: GgmlType, n: number): number {
  return (n / t.blockSize) * t.typeSize;
}

/** Dequantizes `n` elements (whole blocks) held in `raw` into float32. */
export function dequantizeGgml(t: GgmlType, raw: Uint8Array, n: number, out = new Float32Array(n)): Float32Array {
  t.dequantize(raw, 0, n / t.blockSize, out, 0);
  return out;
}
