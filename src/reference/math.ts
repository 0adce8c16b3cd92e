/**
 * Kernels with llama2.c's float32 semantics, reproduced exactly in JS.
 *
 * Accumulation rule (what every target is compared against): every operation
 * is rounded to float32 in program order, exactly as `run.c` does without
 * fused multiply-add: `val = f32(val + f32(w * x))`, summed left to right
 * over j. `Math.fround` after each double operation gives the correctly
 * rounded float32 result, since a double holds a float32 product exactly and
 * double-rounding is harmless for +, *, /, sqrt on float32 inputs.
 * exp is retro's own correctly rounded float32 routine (expf.ts), which the C
 * engine runs operation for operation instead of any C library's exp.
 */
import { expf } from './expf.js';
import type { IntMatrix, Matrix } from './model.js';
import { wasmMatmul } from './wasm.js';

const f = Math.fround;

export function rmsnorm(o: Float32Array, x: Float32Array, weight: Float32Array, size: number, eps: number): void {
  let ss = 0;
  for (let j = 0; j < size; j++) ss = f(ss + f(x[j] * x[j]));
  ss = f(ss / size);
  ss = f(ss + f(eps));
  ss = f(1 / f(Math.sqrt(ss)));
  for (let j = 0; j < size; j++) o[j] = f(weight[j] * f(ss * x[j]));
}

export function softmax(x: Float32Array, size: number, offset = 0): void {
  let maxVal = x[offset];
  for (let i = 1; i < size; i++) if (x[offset + i] > maxVal) maxVal = x[offset + i];
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const e = expf(f(x[offset + i] - maxVal));
    x[offset + i] = e;
    sum = f(sum + e);
  }
  for (let i = 0; i < size; i++) x[offset + i] = f(x[offset + i] / sum);
}

/** Activations quantized the way runq does before every Q8 matmul. */
export interface QuantizedVector {
  q: Int8Array;
  s: Float32Array;
}

export function newQuantizedVector(n: number, groupSize: number): QuantizedVector {
  return { q: new Int8Array(n), s: new Float32Array(Math.ceil(n / groupSize)) };
}

/** runq's `quantize`: symmetric int8 per group, scale = max|x| / 127, round half away from zero. */
export function quantize(qx: QuantizedVector, x: Float32Array, n: number, groupSize: number): void {
  const groups = Math.ceil(n / groupSize);
  for (let g = 0; g < groups; g++) {
    const start = g * groupSize;
    const end = Math.min(start + groupSize, n);
    let wmax = 0;
    for (let i = start; i < end; i++) {
      const v = Math.abs(x[i]);
      if (v > wmax) wmax = v;
    }
    const scale = f(wmax / 127);
    qx.s[g] = scale;
    for (let i = start; i < end; i++) {
      // An all-zero group has scale 0; C would compute 0/0 here, we store 0.
      const qv = scale === 0 ? 0 : f(x[i] / scale);
      qx.q[i] = qv < 0 ? -Math.floor(-qv + 0.5) : Math.floor(qv + 0.5);
    }
  }
}

/**
 * W (d x n) @ x (n) -> xout (d), float32 step by step. Arrays in a wasm arena (buildTransformer puts
 * them there) run the same steps as WebAssembly f32 operations (wasm.ts); otherwise eight rows at a
 * time in JS. Either way each row's sum keeps its own order.
 */
export function matmulF32(xout: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void {
  const kernel = wasmMatmul(xout, x, w);
  if (kernel) {
    kernel(xout.byteOffset, x.byteOffset, w.byteOffset, n, d);
    return;
  }
  let i = 0;
  for (; i + 8 <= d; i += 8) {
    const o0 = i * n;
    const o1 = o0 + n;
    const o2 = o1 + n;
    const o3 = o2 + n;
    const o4 = o3 + n;
    const o5 = o4 + n;
    const o6 = o5 + n;
    const o7 = o6 + n;
    let v0 = 0;
    let v1 = 0;
    let v2 = 0;
    let v3 = 0;
    let v4 = 0;
    let v5 = 0;
    let v6 = 0;
    let v7 = 0;
    for (let j = 0; j < n; j++) {
      const xj = x[j];
      v0 = f(v0 + f(w[o0 + j] * xj));
      v1 = f(v1 + f(w[o1 + j] * xj));
      v2 = f(v2 + f(w[o2 + j] * xj));
      v3 = f(v3 + f(w[o3 + j] * xj));
      v4 = f(v4 + f(w[o4 + j] * xj));
      v5 = f(v5 + f(w[o5 + j] * xj));
      v6 = f(v6 + f(w[o6 + j] * xj));
      v7 = f(v7 + f(w[o7 + j] * xj));
    }
    xout[i] = v0;
    xout[i + 1] = v1;
    xout[i + 2] = v2;
    xout[i + 3] = v3;
    xout[i + 4] = v4;
    xout[i + 5] = v5;
    xout[i + 6] = v6;
    xout[i + 7] = v7;
  }
  for (; i < d; i++) {
    const o = i * n;
    let v = 0;
    for (let j = 0; j < n; j++) v = f(v + f(w[o + j] * x[j]));
    xout[i] = v;
  }
}

/** runq's matmul: integer dot product per group, then `val += (float)ival * w_scale * x_scale`. */
export function matmulQ8(xout: Float32Array, xq: QuantizedVector, w: IntMatrix): void {
  const n = w.cols;
  const gs = w.groupSize;
  const groups = Math.ceil(n / gs);
  const wq = w.q;
  const ws = w.s;
  const xqq = xq.q;
  const xs = xq.s;
  for (let i = 0; i < w.rows; i++) {
    const row = i * n;
    let val = 0;
    for (let g = 0; g < groups; g++) {
      const start = g * gs;
      const end = Math.min(start + gs, n);
      let ival = 0;
      for (let j = start; j < end; j++) ival += xqq[j] * wq[row + j];
      val = f(val + f(f(ival * ws[i * groups + g]) * xs[g]));
    }
    xout[i] = val;
  }
}

/** Scratch for quantized activations, one per distinct (length, group size). */
export class Quantizer {
  private readonly cache = new Map<string, QuantizedVector>();
  get(n: number, groupSize: number): QuantizedVector {
    const key = `${n}/${groupSize}`;
    let v = this.cache.get(key);
    if (!v) {
      v = newQuantizedVector(n, groupSize);
      this.cache.set(key, v);
    }
    return v;
  }
}

/** xout = W @ x for any storage kind; Q8 and Q4 quantize x to int8 first, as runq does. */
export function matmul(xout: Float32Array, x: Float32Array, w: Matrix, scratch: Quantizer): void {
  if (w.kind === 'f32') {
    matmulF32(xout, x, w.data, w.cols, w.rows);
    return;
  }
  const xq = scratch.get(w.cols, w.groupSize);
  quantize(xq, x, w.cols, w.groupSize);
  matmulQ8(xout, xq, w);
}

/** runq's `dequantize` of a Q8 (or Q4) matrix to float32: q * s, rounded to float32. */
export function dequantize(w: IntMatrix): Float32Array {
  const out = new Float32Array(w.rows * w.cols);
  for (let i = 0; i < w.rows; i++) dequantizeRow(out.subarray(i * w.cols, (i + 1) * w.cols), w, i);
  return out;
}

/** One row of a matrix as float32 (the engine's embed and dequantize_row): a copy, or q * s for the integer kinds. */
export function dequantizeRow(out: Float32Array, w: Matrix, row: number): void {
  const n = w.cols;
  if (w.kind === 'f32') {
    out.set(w.data.subarray(row * n, (row + 1) * n));
    return;
  }
  const groups = Math.ceil(n / w.groupSize);
  for (let j = 0; j < n; j++) out[j] = f(w.q[row * n + j] * w.s[row * groups + Math.floor(j / w.groupSize)]);
}
