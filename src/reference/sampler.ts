/**
 * llama2.c's sampler: argmax, temperature softmax, top-p and multinomial,
 * driven by its xorshift* RNG, reproduced bit for bit.
 */
import { softmax } from './math.js';

const f = Math.fround;
const MASK64 = (1n << 64n) - 1n;

/** xorshift* on a u64 state, as `random_u32` / `random_f32` in run.c. */
export class Rng {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = seed & MASK64;
  }
  u32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s = (s ^ (s << 25n)) & MASK64;
    s ^= s >> 27n;
    this.state = s;
    return Number(((s * 0x2545f4914f6cdd1dn) & MASK64) >> 32n);
  }
  f32(): number {
    return f((this.u32() >>> 8) / 16777216);
  }
}

export function sampleArgmax(probabilities: Float32Array): number {
  let maxI = 0;
  let maxP = probabilities[0];
  for (let i = 1; i < probabilities.length; i++) {
    if (probabilities[i] > maxP) {
      maxI = i;
      maxP = probabilities[i];
    }
  }
  return maxI;
}

export function sampleMult(probabilities: Float32Array, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < probabilities.length; i++) {
    cdf = f(cdf + probabilities[i]);
    if (coin < cdf) return i;
  }
  return probabilities.length - 1;
}

export function sampleTopp(probabilities: Float32Array, topp: number, coin: number): number {
  const n = probabilities.length;
  const cutoff = f(f(1 - topp) / (n - 1));
  const cands: { index: number; prob: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (probabilities[i] >= cutoff) cands.push({ index: i, prob: probabilities[i] });
  }
  // glibc's qsort is a stable merge sort for arrays this size; Array.prototype.sort is stable too.
  cands.sort((a, b) => (a.prob > b.prob ? -1 : a.prob < b.prob ? 1 : 0));
  let cumulative = 0;
  let lastIdx = cands.length - 1;
  for (let i = 0; i < cands.length; i++) {
    cumulative = f(cumulative + cands[i].prob);
    if (cumulative > topp) {
      lastIdx = i;
      break;
    }
  }
  const r = f(coin * cumulative);
  let cdf = 0;
  for (let i = 0; i <= lastIdx; i++) {
    cdf = f(cdf + cands[i].prob);
    if (r < cdf) return cands[i].index;
  }
  return cands[lastIdx].index;
}

export class Sampler {
  readonly temperature: number;
  readonly topp: number;
  readonly rng: Rng;

  constructor(temperature: number, topp: number, seed: bigint) {
    this.temperature = f(temperature);
    this.topp = f(topp);
    this.rng = new Rng(seed);
  }

  /** Picks the next token; modifies logits in place as run.c does. */
  sample(logits: Float32Array): number {
    if (this.temperature === 0) return sampleArgmax(logits);
    for (let q = 0; q < logits.length; q++) logits[q] = f(logits[q] / this.temperature);
    softmax(logits, logits.length);
    const coin = this.rng.f32();
    if (this.topp <= 0 || this.topp >= 1) return sampleMult(logits, coin);
    return sampleTopp(logits, this.topp, coin);
  }
}
