/**
 * Compares an engine trace with the reference: the reference is fed the very tokens the
 * engine consumed, so a legitimate near-tie flip does not make every later position differ.
 */
import { buildTransformer, forward } from '../reference/forward.js';
import type { Config, Weights } from '../reference/model.js';
import { Sampler } from '../reference/sampler.js';
import type { Trace } from './trace.js';

export interface Tolerance {
  /** Largest allowed |engine logit - reference logit| over the engine's top-k. */
  logit: number;
  /** Largest allowed relative difference of the logit vector's L2 norm. */
  relL2: number;
}

export interface PositionResult {
  pos: number;
  token: number;
  next: number;
  src: string;
  argmaxEngine: number;
  argmaxRef: number;
  margin: number; // reference top-1 minus top-2 logit
  argmaxOk: boolean; // agree, or a near tie within the tolerance
  topkErr: number;
  relL2: number;
  sampleOk: boolean; // the reference sampler picks the engine's token, or the logits differ within tolerance
}

export interface CompareResult {
  mode: 'free' | 'forced';
  positions: PositionResult[];
  argmaxAgree: number;
  worstLogitErr: number;
  worstRelL2: number;
  pass: boolean;
  failures: string[];
}

export function compareTrace(trace: Trace, config: Config, weights: Weights, tol: Tolerance): CompareResult {
  const t = buildTransformer(config, weights);
  const sampler = new Sampler(trace.header.temperature, trace.header.topp, trace.header.seed);
  const positions: PositionResult[] = [];
  const failures: string[] = [];
  if (trace.header.vocab !== config.vocabSize) failures.push(`trace vocab ${trace.header.vocab} is not the model's ${config.vocabSize}: a trace of another model`);
  if (trace.cutAt) failures.push(`the trace stops at line ${trace.cutAt.line}, cut short after position ${trace.cutAt.pos - 1}: positions 0..${trace.cutAt.pos - 1} were compared`);
  for (const s of trace.steps) {
    if (s.pos >= config.seqLen) break;
    const logits = forward(t, s.token, s.pos);
    let a = 0;
    let b = -1;
    for (let i = 1; i < logits.length; i++) {
      if (logits[i] > logits[a]) {
        b = a;
        a = i;
      } else if (b < 0 || logits[i] > logits[b]) b = i;
    }
    const margin = b < 0 ? Infinity : logits[a] - logits[b];
    let sumSq = 0;
    for (let i = 0; i < logits.length; i++) sumSq += logits[i] * logits[i];
    const l2 = Math.sqrt(sumSq);
    const topkErr = Math.max(...s.top.map((x) => Math.abs(x.value - logits[x.id])));
    const relL2 = l2 === 0 ? Math.abs(s.l2) : Math.abs(s.l2 - l2) / l2;
    const argmaxOk = s.argmax === a || margin <= tol.logit;
    let sampleOk = true;
    if (s.src === 's' && trace.header.temperature !== 0) {
      // Same seed, same coin: a different pick is a sampler bug unless the logits legitimately differ (within tolerance).
      const refNext = sampler.sample(Float32Array.from(logits));
      sampleOk = refNext === s.next || (topkErr > 0 && topkErr <= tol.logit);
    }
    positions.push({ pos: s.pos, token: s.token, next: s.next, src: s.src, argmaxEngine: s.argmax, argmaxRef: a, margin, argmaxOk, topkErr, relL2, sampleOk });
    // Wrong from the very first token, and by far: not a rounding difference but other weights.
    if (s.pos === 0 && !(relL2 <= 0.5) && s.argmax !== a) failures.push(`pos 0 already differs by ${(100 * relL2).toFixed(0)}% of the logits' size: a trace of another model (or another model.rtr)? run the engine on this bundle's model.rtr`);
    // Written as !(x <= tol) so that NaN from a broken engine fails.
    if (!argmaxOk) failures.push(`pos ${s.pos}: argmax ${s.argmax}, reference ${a} with margin ${margin.toPrecision(3)}`);
    if (!(topkErr <= tol.logit)) failures.push(`pos ${s.pos}: top-k logit error ${topkErr.toPrecision(3)} > ${tol.logit}`);
    if (!(relL2 <= tol.relL2)) failures.push(`pos ${s.pos}: relative L2 difference ${relL2.toPrecision(3)} > ${tol.relL2}`);
    if (!sampleOk) failures.push(`pos ${s.pos}: sampled ${s.next}, the reference sampler with the same seed picks otherwise`);
  }
  return {
    mode: trace.header.mode,
    positions,
    argmaxAgree: positions.filter((p) => p.argmaxEngine === p.argmaxRef).length,
    worstLogitErr: positions.reduce((m, p) => (Number.isNaN(p.topkErr) || p.topkErr > m ? p.topkErr : m), 0),
    worstRelL2: positions.reduce((m, p) => (Number.isNaN(p.relL2) || p.relL2 > m ? p.relL2 : m), 0),
    pass: failures.length === 0,
    failures,
  };
}
