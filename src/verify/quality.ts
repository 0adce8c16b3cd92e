/**
 * How much a quantized model loses against the f32 one, position by position on the same text:
 * top-1 agreement, KL divergence of the next-token distributions, and each model's perplexity.
 * Computed in double precision from the logits (softmax with the max subtracted).
 */

/** log-probabilities of a logit vector. */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** KL(p || q) in nats from log-probabilities. */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const p = Math.exp(logP[i]);
    if (p > 0) kl += p * (logP[i] - logQ[i]);
  }
  return Math.max(0, kl);
}

export interface QualityScore {
  positions: number;
  top1Agreement: number;
  meanKl: number;
  maxKl: number;
  perplexityRef: number;
  perplexityQuant: number;
}

/** Accumulates positions: the reference's and the quantized model's logits, and the token that came next. */
export class QualityMeter {
  private n = 0;
  private agree = 0;
  private kl = 0;
  private klMax = 0;
  private nllRef = 0;
  private nllQuant = 0;

  add(ref: Float32Array, quant: Float32Array, next: number): void {
    const lp = logSoftmax(ref);
    const lq = logSoftmax(quant);
    const kl = klDivergence(lp, lq);
    this.n++;
    if (argmax(ref) === argmax(quant)) this.agree++;
    this.kl += kl;
    this.klMax = Math.max(this.klMax, kl);
    this.nllRef -= lp[next];
    this.nllQuant -= lq[next];
  }

  score(): QualityScore {
    const n = Math.max(1, this.n);
    return { positions: this.n, top1Agreement: this.agree / n, meanKl: this.kl / n, maxKl: this.klMax, perplexityRef: Math.exp(this.nllRef / n), perplexityQuant: Math.exp(this.nllQuant / n) };
  }
}
