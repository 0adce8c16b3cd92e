/**
 * retro's own float32 tanh, and GELU with the tanh approximation (Gemma's FFN) built on it. Like
 * expf.ts: correctly rounded on every float32 input, float32 operations only (no double, no libm,
 * no fused multiply-add), so the C in templates/tanhf.c.ejs, which is this file line by line,
 * gets the same bits on every target (x87 with its precision control set to single, as the
 * engine sets it).
 *
 * tanh is odd and rounding to nearest is symmetric, so a = |x| is computed and the sign put back.
 * Below 2^-12, tanh(a) rounds to a (a - a^3/3 < tanh a < a, and a^3/3 is under half the gap below
 * a); above 9.03125 it rounds to 1 (1 - tanh a < 2e^-2a < 2^-25 from a = 9.011). Between,
 * tanh a = m / (m + 2) with m = expm1(2a), all in float-float (a value as hi + lo):
 * - y = 2a = k*ln2/64 + r, k = 64K + j, |r| <= ln2/128, reduced as rt_expf reduces x (its
 *   constants); exp(r) - 1 = r + r^2/2 + r^3/6 + r^4 (1/24 + r/120 + r^2/720), the cube term
 *   with 1/6 as a float-float, since its rounding would otherwise cost 2^-40 relative near 0;
 * - W = 2^(j/64) - 1 + 2^(j/64) (exp(r) - 1), from a table of 2^(j/64) - 1 (not 2^(j/64), so
 *   that small y keep their relative precision); m = 2^K W + (2^K - 1);
 * - z0 + z1 = m / (m + 2) by one float division and Dekker's product for the remainder.
 * z0 + z1 is within 2^-45 of tanh a (relative; measured by the exhaustive check over every
 * float32, test/reference/tanhf.test.ts). It is rounded once; when the rounding test says the
 * true value may lie on the other side of a midpoint, a is looked up in TANHF_EXCEPTIONS (the
 * inputs where that rounding is wrong, found by the same check).
 *
 * Every line is `f(a op b)` for one float32 operation. The float-float steps are functions that
 * set S and E, where the C's static functions write through two pointers.
 */
import { EXPF_CONSTANTS, bitsOf, exceptionLookup, floatOf, floatsOf } from './expf.js';

const f = Math.fround;

/** Float32 constants as bit patterns (tanh's own; the reduction uses EXPF_CONSTANTS). */
export const TANHF_CONSTANTS = {
  TINY: 0x39800000, // 2^-12: below it tanh(x) rounds to x
  BIG: 0x41108000, // 9.03125: above it tanh(x) rounds to 1
  C3H: 0x3e2aaaab, // 1/6 = C3H + C3L
  C3L: 0xb1aaaaab,
  C6: 0x3ab60b61, // 1/720
  EPS: 0x29800000, // 2^-44: bound on |z0 + z1 - tanh(a)| / z0 used by the rounding test
  GELU_BETA: 0x3f4c422a, // sqrt(2/pi)
  GELU_KAPPA: 0x3d372713, // 0.044715
} as const;

/** 2^(j/64) - 1 = TAB_HI[j] + TAB_LO[j], each rounded to nearest from the exact value. */
export const TANHF_TAB_HI = [
  0x00000000, 0x3c3268fa, 0x3cb361a6, 0x3d074518, 0x3d35586d, 0x3d63ec33, 0x3d8980e8, 0x3da14d57, 0x3db95c1e, 0x3dd1adf6, 0x3dea4399, 0x3e018ee2, 0x3e0e1e9c, 0x3e1ad159, 0x3e27a77d, 0x3e34a16a,
  0x3e41bf83, 0x3e4f022d, 0x3e5c69ce, 0x3e69f6cd, 0x3e77a993, 0x3e82c144, 0x3e89c10c, 0x3e90d457, 0x3e97fb5b, 0x3e9f364f, 0x3ea6856b, 0x3eade8e7, 0x3eb560fc, 0x3ebcede3, 0x3ec48fd6, 0x3ecc4710,
  0x3ed413cd, 0x3edbf648, 0x3ee3eebd, 0x3eebfd6b, 0x3ef4228e, 0x3efc5e67, 0x3f02589a, 0x3f068d9a, 0x3f0ace54, 0x3f0f1aea, 0x3f13737b, 0x3f17d82a, 0x3f1c4918, 0x3f20c668, 0x3f25503b, 0x3f29e6b5,
  0x3f2e89fa, 0x3f333a2c, 0x3f37f76f, 0x3f3cc1e9, 0x3f4199be, 0x3f467f13, 0x3f4b720e, 0x3f5072d5, 0x3f55818e, 0x3f5a9e60, 0x3f5fc973, 0x3f6502ee, 0x3f6a4afa, 0x3f6fa1bf, 0x3f750766, 0x3f7a7c18,
];
export const TANHF_TAB_LO = [
  0x00000000, 0xaf07f9f1, 0x2fac2ba2, 0x30eb3790, 0xaecede14, 0xb030b978, 0x2f92da85, 0x31292de0, 0x30faa2f6, 0xb110348b, 0xb1174656, 0x30c519ac, 0xb1c54ee4, 0x31f13e6f, 0x318fef71, 0xb18dfe7a,
  0xb1e72475, 0xb1cdf480, 0xb1455635, 0x31659ff7, 0x2f91a112, 0x31fb9715, 0x30c3125a, 0xb20fb0cc, 0xb2327576, 0xb1b169ad, 0xb1b1583f, 0xb1a56c13, 0xb22deaf6, 0xb214b7ae, 0x30695613, 0x32154889,
  0xb1c0621a, 0xb266b974, 0x316c5f74, 0xb1decc1c, 0x327ac062, 0xb19858cf, 0xb2d6663e, 0xb2976da2, 0x320aa837, 0xb2dd5119, 0x314dc5e5, 0xb006c6c2, 0x3228fc24, 0xb2944353, 0x320f8957, 0x32af3fb8,
  0xb2d4a58a, 0xb2f61d41, 0x323ed792, 0x309783a4, 0xb21eab59, 0xb1d4175a, 0xb2441be6, 0xb2bf0ed1, 0xb24116de, 0x3276cca1, 0x325ee6d8, 0x32f167ff, 0x32292436, 0xb1cf52ec, 0xb2923758, 0x31cf486c,
];

/** [a, tanh(a)] bit patterns (a > 0) where the rounding test fails and z0 + z1 rounds the wrong way, sorted by a. */
export const TANHF_EXCEPTIONS: readonly (readonly [number, number])[] = [
  [0x3ac37de2, 0x3ac37dd9], // 0.00149148353
  [0x3bc8b605, 0x3bc8b561], // 0.00612521404
  [0x3c96ae2e, 0x3c96a9d5], // 0.0183936022
  [0x3d7c3055, 0x3d7bdee1], // 0.0615695305
];

const X = floatsOf(EXPF_CONSTANTS);
const K = floatsOf(TANHF_CONSTANTS);
const TAB_HI = TANHF_TAB_HI.map(floatOf);
const TAB_LO = TANHF_TAB_LO.map(floatOf);

const SHIFTER = 12582912; // 1.5 * 2^23: t + SHIFTER holds round(t) in its low mantissa bits
const SHIFTER_BITS = 0x4b400000;
const SPLIT = 4097; // Dekker's splitter for 24-bit floats

let S = 0;
let E = 0;

/** S + E = a + b exactly (Knuth's two-sum). */
function twoSum(a: number, b: number): void {
  const s = f(a + b);
  const bb = f(s - a);
  E = f(f(a - f(s - bb)) + f(b - bb));
  S = s;
}

/** S + E = a + b exactly, for |a| >= |b| (fast two-sum). */
function fastTwoSum(a: number, b: number): void {
  const s = f(a + b);
  E = f(b - f(s - a));
  S = s;
}

/** S + E = a * b exactly (Dekker's product, each factor split in two 12-bit halves). */
function twoProd(a: number, b: number): void {
  let c = f(SPLIT * a);
  const ah = f(c - f(c - a));
  const al = f(a - ah);
  c = f(SPLIT * b);
  const bh = f(c - f(c - b));
  const bl = f(b - bh);
  const p = f(a * b);
  E = f(f(f(f(f(ah * bh) - p) + f(ah * bl)) + f(al * bh)) + f(al * bl));
  S = p;
}

/** tanh(a) from EXCEPTIONS, or -1 when a is not there. */
const exception = exceptionLookup(TANHF_EXCEPTIONS);

/** S + E = tanh(a) within 2^-45 (relative), for a float32 a in [TINY, BIG]. */
function tanhParts(a: number): void {
  const y = f(a + a);
  // k = round(y * 64/ln2), read from the mantissa of t + SHIFTER
  const t = f(y * X.INV_L);
  const tm = f(t + SHIFTER);
  const kk = bitsOf(tm) - SHIFTER_BITS;
  const kf = f(tm - SHIFTER);
  // r = y - k*ln2/64 as rh + rl
  twoSum(f(y - f(kf * X.L1)), -f(kf * X.L2));
  const r0 = S;
  const r1 = E;
  twoProd(kf, X.L3);
  const c0 = S;
  const c1 = E;
  twoSum(r0, -c0);
  let lo = f(f(f(E + r1) - c1) - f(kf * X.L4));
  fastTwoSum(S, lo);
  const rh = S;
  const rl = E;
  // exp(r) - 1 = eh + el; r^2 = q0 + q1, r^3 = c0 + c1, r^3/6 = d0 + d1
  twoProd(rh, rh);
  const q0 = S;
  const q1 = f(E + f(f(rh + rh) * rl));
  twoProd(q0, rh);
  const p0 = S;
  const p1 = f(f(E + f(q1 * rh)) + f(q0 * rl));
  twoProd(p0, K.C3H);
  const d0 = S;
  const d1 = f(E + f(f(p1 * K.C3H) + f(p0 * K.C3L)));
  const quart = f(f(q0 * q0) * f(X.C4 + f(rh * f(X.C5 + f(rh * K.C6)))));
  fastTwoSum(rh, f(q0 * 0.5));
  const s0 = S;
  const e0 = E;
  fastTwoSum(s0, d0);
  lo = f(f(f(f(e0 + E) + rl) + f(q1 * 0.5)) + f(d1 + quart));
  fastTwoSum(S, lo);
  const eh = S;
  const el = E;
  // W = 2^(j/64) - 1 + 2^(j/64) (exp(r) - 1) = w0 + w1
  const th = TAB_HI[kk & 63];
  const tl = TAB_LO[kk & 63];
  twoProd(th, eh);
  const u0 = S;
  const u1 = E;
  twoSum(th, eh);
  const v1 = E;
  twoSum(S, u0);
  lo = f(f(f(f(f(v1 + E) + u1) + tl) + el) + f(f(th * el) + f(tl * eh)));
  fastTwoSum(S, lo);
  const w0 = S;
  const w1 = E;
  // m = 2^K W + (2^K - 1) = m0 + m1
  const scale = floatOf(((kk >> 6) + 127) << 23);
  twoSum(f(scale - 1), f(w0 * scale));
  lo = f(E + f(w1 * scale));
  fastTwoSum(S, lo);
  const m0 = S;
  const m1 = E;
  // z = m / (m + 2) = z0 + z1
  twoSum(m0, 2);
  const n0 = S;
  const n1 = f(E + m1);
  const z0 = f(m0 / n0);
  twoProd(z0, n0);
  E = f(f(f(f(m0 - S) - E) + f(m1 - f(z0 * n1))) / n0);
  S = z0;
}

/** tanh(x) correctly rounded to float32, for a float32 x. */
export function tanhf(x: number): number {
  if (x !== x) return x;
  const a = x < 0 ? -x : x;
  if (a < K.TINY) return x;
  if (a > K.BIG) return x < 0 ? -1 : 1;
  tanhParts(a);
  const z0 = S;
  const z1 = E;
  const eps = f(z0 * K.EPS);
  let z = -1;
  if (f(z0 + f(z1 + eps)) !== f(z0 + f(z1 - eps))) z = exception(a);
  if (z < 0) z = f(z0 + z1);
  return x < 0 ? -z : z;
}

/**
 * GELU with the tanh approximation (gelu_pytorch_tanh), in PyTorch's order of operations:
 * cube = (x*x)*x, inner = sqrt(2/pi) * (x + 0.044715*cube), gelu = (0.5*x) * (1 + tanh(inner)).
 * Each step rounds to float32; the constants are float32. At x = -Infinity it is NaN (-inf * 0),
 * as in PyTorch; a cube beyond float32's range gives tanh = +-1 whether it overflows (SSE,
 * PowerPC) or not (x87's wider exponent), so the bits agree.
 */
export function gelu_tanh(x: number): number {
  const cube = f(f(x * x) * x);
  const inner = f(K.GELU_BETA * f(x + f(K.GELU_KAPPA * cube)));
  return f(f(0.5 * x) * f(1 + tanhf(inner)));
}
