/** Retro's reference engine run along llama.cpp's tokens, to compare greedy choices step by step. */
import { openModel } from '../../src/model/open.js';
import { loadWeights } from '../../src/model/source.js';
import { buildTransformer, forward, type Transformer } from '../../src/reference/forward.js';

export interface StepDiff {
  step: number;
  ours: number; // retro's argmax
  theirs: number; // llama.cpp's greedy token
  margin: number; // our logit of ours minus our logit of theirs: how near the tie was in retro's arithmetic
}

export interface Parity {
  greedyPrefix: number; // steps retro's greedy choice equals llama.cpp's before the first difference
  diffs: StepDiff[]; // every step where retro's argmax is not llama.cpp's token
  /** Largest |retro's log-softmax - llama.cpp's log-probability| over every token of every step. */
  maxLogitDiff: number;
}

export function loadTransformer(modelPath: string): Transformer {
  const src = openModel(modelPath);
  try {
    return buildTransformer(src.config, loadWeights(src));
  } finally {
    src.close();
  }
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

function logSoftmax(v: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (const x of v) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(v, (x) => x - lse);
}

/** Probabilities below e^-80 underflow in llama.cpp's float32 softmax: there both sides only need to be that small. */
const UNDERFLOW = -80;

function maxAbsDiff(a: Float64Array, b: Float32Array): number {
  let m = a.length >= b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) {
    if (!(b[i] >= UNDERFLOW)) m = Math.max(m, a[i] < UNDERFLOW + 1 ? 0 : Infinity);
    else m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

/**
 * Feeds the prompt, then llama.cpp's own tokens (teacher forcing), so every one of its steps is
 * compared even after a near-tie went the other way.
 */
export function parity(t: Transformer, promptIds: number[], theirs: number[], theirLogProbs: Float32Array[] = []): Parity {
  const seq = [...promptIds, ...theirs];
  const diffs: StepDiff[] = [];
  let maxLogitDiff = 0;
  for (let pos = 0; pos < seq.length - 1; pos++) {
    const logits = forward(t, seq[pos], pos);
    const step = pos - (promptIds.length - 1);
    if (step < 0) continue;
    const ours = argmax(logits);
    const want = seq[pos + 1];
    if (ours !== want) diffs.push({ step, ours, theirs: want, margin: logits[ours] - logits[want] });
    const lp = theirLogProbs[step];
    if (lp) maxLogitDiff = Math.max(maxLogitDiff, maxAbsDiff(logSoftmax(logits), lp));
  }
  return { greedyPrefix: diffs.length ? diffs[0].step : theirs.length, diffs, maxLogitDiff };
}
