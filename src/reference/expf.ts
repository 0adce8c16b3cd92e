/**
 * retro's own float32 exp: correctly rounded on every float32 input, computed with float32
 * operations only, so that a C compiler emits the same operations in the same order on every
 * target (no double, no libm, no fused multiply-add) and gets the same bits. On x87 that needs
 * the precision control set to single (the engine does so), because there double arithmetic
 * would not be double.
 *
 * exp(x) = 2^K * 2^(j/64) * exp(r), k = 64K + j = round(x * 64/ln2), r = x - k*ln2/64, |r| <= 0.0055.
 * r is a float-float (rh + rl): ln2/64 is split in four parts, the first two with 10 significant
 * bits (so k*L1 and k*L2 are exact for |k| < 2^14), the third multiplied exactly by Dekker's
 * product, the fourth plainly. exp(r) - 1 = r + r^2/2 (float-float) + r^3 (1/6 + r/24 + r^2/120)
 * (float); 2^(j/64) is a float-float table entry. The result v0 + v1 (about 2^-46 from the true
 * value, relative) is rounded once; when the rounding test says the true value may lie on the
 * other side of a midpoint, the input is looked up in EXCEPTIONS (inputs where that rounding is
 * wrong, found by the exhaustive check in test/reference/expf.test.ts). Results below 2^-126 are
 * rounded onto the subnormal grid by adding 2^(-126-K) first, so no step ever leaves float32's
 * normal range before the final, exact scaling.
 *
 * Every line is `f(a op b)` for one float32 operation: the C in templates/expf.c.ejs is this
 * function line by line.
 */

const f = Math.fround;

/** Float32 constants as bit patterns: the C engine reads the same bits (no decimal conversion). */
export const EXPF_CONSTANTS = {
  INV_L: 0x42b8aa3b, // 64/ln2
  L1: 0x3c314000, // ln2/64 = L1 + L2 + L3 + L4 (L1, L2: 10 significant bits)
  L2: 0x37484000,
  L3: 0x31fefa3a,
  L3H: 0x31fef000, // L3 split in two 12-bit halves for Dekker's product
  L3L: 0x2ba3a000,
  L4: 0xa4065436,
  C3: 0x3e2aaaab, // 1/6, 1/24, 1/120
  C4: 0x3d2aaaab,
  C5: 0x3c088889,
  EPS: 0x29000000, // 2^-45: bound on |v0 + v1 - exp(x) / 2^K| used by the rounding test
  TINY: 0x33000000, // 2^-25: below it exp rounds to 1
  OVER: 0x42b17217, // the largest x whose exp is finite in float32 (88.7228317...)
  UNDER: 0xc2d00000, // -104: below it exp rounds to 0
  TWO_M64: 0x1f800000, // 2^-64
  INF: 0x7f800000,
} as const;

/** 2^(j/64) = TAB_HI[j] + TAB_LO[j], each rounded to nearest from a 300-bit value. */
export const EXPF_TAB_HI = [
  0x3f800000, 0x3f8164d2, 0x3f82cd87, 0x3f843a29, 0x3f85aac3, 0x3f871f62, 0x3f88980f, 0x3f8a14d5, 0x3f8b95c2, 0x3f8d1adf, 0x3f8ea43a, 0x3f9031dc, 0x3f91c3d3, 0x3f935a2b, 0x3f94f4f0, 0x3f96942d,
  0x3f9837f0, 0x3f99e046, 0x3f9b8d3a, 0x3f9d3eda, 0x3f9ef532, 0x3fa0b051, 0x3fa27043, 0x3fa43516, 0x3fa5fed7, 0x3fa7cd94, 0x3fa9a15b, 0x3fab7a3a, 0x3fad583f, 0x3faf3b79, 0x3fb123f6, 0x3fb311c4,
  0x3fb504f3, 0x3fb6fd92, 0x3fb8fbaf, 0x3fbaff5b, 0x3fbd08a4, 0x3fbf179a, 0x3fc12c4d, 0x3fc346cd, 0x3fc5672a, 0x3fc78d75, 0x3fc9b9be, 0x3fcbec15, 0x3fce248c, 0x3fd06334, 0x3fd2a81e, 0x3fd4f35b,
  0x3fd744fd, 0x3fd99d16, 0x3fdbfbb8, 0x3fde60f5, 0x3fe0ccdf, 0x3fe33f89, 0x3fe5b907, 0x3fe8396a, 0x3feac0c7, 0x3fed4f30, 0x3fefe4ba, 0x3ff28177, 0x3ff5257d, 0x3ff7d0df, 0x3ffa83b3, 0x3ffd3e0c,
];
export const EXPF_TAB_LO = [
  0x00000000, 0xb1c43fd0, 0xb34ea7a9, 0xb2f14c87, 0x334f9891, 0xb352c2e6, 0xb37eda4b, 0x336a92de, 0xb260aba1, 0x3336fcb7, 0xb3697465, 0x330628cd, 0x33675624, 0x32bc4f9c, 0xb32e0212, 0x32dc8061,
  0x33231b71, 0xb359be90, 0xb30c5563, 0xb331a601, 0x33412342, 0x31fb9715, 0x30c3125a, 0xb323ec33, 0xb32c9d5e, 0xb3162d36, 0xb3162b08, 0xb314ad82, 0xb22deaf6, 0xb3252deb, 0xb37c5aa8, 0x32154889,
  0x32cfe77a, 0xb266b974, 0x330ec5f7, 0xb31bd983, 0xb3414fe8, 0xb3130b1a, 0xb2d6663e, 0xb2976da2, 0x320aa837, 0xb2dd5119, 0xb37323a2, 0xb006c6c2, 0x3228fc24, 0xb2944353, 0xb35c1daa, 0xb3286024,
  0xb2d4a58a, 0xb2f61d41, 0xb3504a1c, 0xb37b43e3, 0xb21eab59, 0x33657d15, 0xb2441be6, 0x33207898, 0xb24116de, 0x3276cca1, 0xb348464a, 0x32f167ff, 0x32292436, 0x336615a2, 0xb2923758, 0x31cf486c,
];

/** [x, exp(x)] bit patterns where the rounding test fails and v0 + v1 rounds the wrong way, sorted by x as a float. */
export const EXPF_EXCEPTIONS: readonly (readonly [number, number])[] = [
  [0xc16912cd, 0x34fd331b], // -14.56709
  [0xc13d6631, 0x36f28e33], // -11.8374491
  [0xbf81eadf, 0x3eb98dc1], // -1.0149802
  [0xbbf0edf1, 0x3f7e1fe9], // -0.00735258358
  [0xbae0e25c, 0x3f7f8fa7], // -0.00171573041
  [0x33800000, 0x3f800001], // 5.96046448e-08
  [0x383a3ef1, 0x3f800175], // 4.44044745e-05
  [0x39c6be5b, 0x3f800c6d], // 0.000379073288
  [0x39e5bb1d, 0x3f800e5d], // 0.000438176939
  [0x3c608a0e, 0x3f81c42b], // 0.0137047898
  [0x40315b33, 0x417fa47d], // 2.77119136
  [0x4288942b, 0x70b7a4c5], // 68.2893906
];

const word = new Uint32Array(1);
const real = new Float32Array(word.buffer);

export function floatOf(bits: number): number {
  word[0] = bits;
  return real[0];
}

export function bitsOf(x: number): number {
  real[0] = x;
  return word[0];
}

/** Constants given as bit patterns, as floats. */
export function floatsOf<T extends Record<string, number>>(bits: T): Record<keyof T, number> {
  return Object.fromEntries(Object.entries(bits).map(([k, v]) => [k, floatOf(v)])) as Record<keyof T, number>;
}

/** f(x) from [x, f(x)] bit patterns sorted by x, or -1 when x is not there (rt_*_exception in C). */
export function exceptionLookup(pairs: readonly (readonly [number, number])[]): (x: number) => number {
  const xs = pairs.map(([x]) => floatOf(x));
  const ys = pairs.map(([, y]) => floatOf(y));
  return (x) => {
    let lo = 0;
    let hi = xs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid + 1;
      else if (xs[mid] > x) hi = mid - 1;
      else return ys[mid];
    }
    return -1;
  };
}

const K = floatsOf(EXPF_CONSTANTS);
const TAB_HI = EXPF_TAB_HI.map(floatOf);
const TAB_LO = EXPF_TAB_LO.map(floatOf);
const SHIFTER = 12582912; // 1.5 * 2^23: t + SHIFTER holds round(t) in its low mantissa bits
const SHIFTER_BITS = 0x4b400000;
const K_BIAS = 9728; // 152 * 64: k + K_BIAS >= 0 for every x >= -104
const SPLIT = 4097; // Dekker's splitter for 24-bit floats

/** exp(x) from EXCEPTIONS, or -1 when x is not there. */
const exception = exceptionLookup(EXPF_EXCEPTIONS);

/** exp(x) correctly rounded to float32, for a float32 x. */
export function expf(x: number): number {
  if (x !== x) return x;
  if (x > K.OVER) return K.INF;
  if (x < K.UNDER) return 0;
  if (x < K.TINY && x > -K.TINY) return 1;
  // k = round(x * 64/ln2), read from the mantissa of t + SHIFTER
  const t = f(x * K.INV_L);
  const tm = f(t + SHIFTER);
  const kk = bitsOf(tm) - SHIFTER_BITS + K_BIAS;
  const kf = f(tm - SHIFTER);
  const j = kk & 63;
  const ke = (kk >> 6) - 152;
  // r = x - k*ln2/64 as rh + rl
  const a = f(x - f(kf * K.L1));
  const b = f(kf * K.L2);
  let s = f(a - b); // two-sum of a and -b
  let bb = f(s - a);
  let e = f(f(a - f(s - bb)) - f(b + bb));
  const r0 = s;
  const r1 = e;
  let c = f(SPLIT * kf); // Dekker's product kf * L3 = c0 + c1
  const kh = f(c - f(c - kf));
  const kl = f(kf - kh);
  const c0 = f(kf * K.L3);
  const c1 = f(f(f(f(f(kh * K.L3H) - c0) + f(kh * K.L3L)) + f(kl * K.L3H)) + f(kl * K.L3L));
  s = f(r0 - c0); // two-sum of r0 and -c0
  bb = f(s - r0);
  e = f(f(r0 - f(s - bb)) - f(c0 + bb));
  let lo = f(f(f(e + r1) - c1) - f(kf * K.L4));
  const rh = f(s + lo); // fast two-sum: renormalized r
  const rl = f(lo - f(rh - s));
  // exp(r) - 1 = e0 + e1
  c = f(SPLIT * rh);
  const hh = f(c - f(c - rh));
  const hl = f(rh - hh);
  const q0 = f(rh * rh);
  const q1 = f(f(f(f(f(hh * hh) - q0) + f(hh * hl)) + f(hl * hh)) + f(hl * hl));
  const cube = f(q0 * rh);
  const poly = f(K.C3 + f(rh * f(K.C4 + f(rh * K.C5))));
  const half = f(q0 * 0.5);
  const small = f(f(f(f(f(f(q0 * rl) * 0.5) + f(q1 * 0.5)) + f(rh * rl)) + rl) + f(cube * poly));
  s = f(rh + half);
  lo = f(f(half - f(s - rh)) + small);
  const eh = f(s + lo);
  const el = f(lo - f(eh - s));
  // v = 2^(j/64) * (1 + e) = v0 + v1
  const th = TAB_HI[j];
  const tl = TAB_LO[j];
  c = f(SPLIT * th);
  const th1 = f(c - f(c - th));
  const th2 = f(th - th1);
  c = f(SPLIT * eh);
  const eh1 = f(c - f(c - eh));
  const eh2 = f(eh - eh1);
  const p0 = f(th * eh);
  const p1 = f(f(f(f(f(th1 * eh1) - p0) + f(th1 * eh2)) + f(th2 * eh1)) + f(th2 * eh2));
  const v0 = f(th + p0);
  const v1 = f(f(p0 - f(v0 - th)) + f(f(f(f(p1 + f(th * el)) + f(tl * eh)) + tl)));
  if (ke > -126 || v0 >= floatOf((1 - ke) << 23)) {
    if (f(v0 + f(v1 + K.EPS)) !== f(v0 + f(v1 - K.EPS))) {
      const y = exception(x);
      if (y >= 0) return y;
    }
    word[0] = bitsOf(f(v0 + v1)) + ke * 8388608;
    return real[0];
  }
  // below 2^-126: rounded on the subnormal grid by adding 2^(-126-K) (a fast two-sum), same test
  const low = floatOf((1 - ke) << 23);
  s = f(low + v0);
  e = f(v0 - f(s - low));
  if (f(s + f(e + f(v1 + K.EPS))) !== f(s + f(e + f(v1 - K.EPS)))) {
    const y = exception(x);
    if (y >= 0) return y;
  }
  const z = f(f(s + f(e + v1)) - low);
  return f(f(z * floatOf((ke + 191) << 23)) * K.TWO_M64);
}
