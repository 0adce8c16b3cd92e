/**
 * Plan: what the engine will allocate for a model on a target, whether it fits the machine's RAM
 * (in RAM, by streaming the weights from disk, or not at all), the best configuration that fits,
 * and an estimated speed.
 */
import { ModelFormatError } from '../errors.js';
import { planNative, type NativeLayout } from '../model/format.js';
import { codeReserveMb, usableMb, type Profile } from '../profile/schema.js';
import { QUANT_NAMES, type QuantKind } from '../quant/kinds.js';
import type { Config, Vocab } from '../reference/model.js';
import { estimateSpeed, type Estimate } from './estimate.js';
import { DoesNotFit, engineMemory, kvCacheBytes, macsPerToken, type EngineMemory } from './memory.js';

/** The choices plan weighs. */
export interface PlanChoices {
  /** Only this kind (default: every kind). */
  quant?: QuantKind;
  groupSize: number;
  seqLen?: number;
  /** RAM budget in MB; default: what the profile leaves a program. */
  ramBudgetMb?: number;
}

/** What plan needs to know of a model: its shape and vocabulary, not its weights (opened inputs have these). */
export interface ModelFacts {
  config: Config;
  vocab: Vocab;
  sharedClassifier: boolean;
  description: string;
  modelPath: string;
}

export interface PlanOption {
  quant: QuantKind;
  seqLen: number;
  mode: 'ram' | 'stream';
  fits: boolean;
  /** Bytes the engine allocates (what -v 1 reports), when it can run at all. */
  allocated: number;
  fileBytes: number;
  memory?: EngineMemory;
  why: string;
}

export interface PlanOutcome {
  profile: Profile;
  model: string;
  config: Config;
  usableMb: number;
  budgetBytes: number;
  options: PlanOption[];
  verdict: 'fits' | 'fits with streaming' | 'does not fit';
  why: string;
  recommendation?: PlanOption;
  estimate?: Estimate;
}

const MB = 1048576;
const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

function option(layout: NativeLayout | string, vocab: Vocab, profile: Profile, budget: number, quant: QuantKind, seqLen: number, stream: boolean): PlanOption {
  if (typeof layout === 'string') return { quant, seqLen, mode: stream ? 'stream' : 'ram', fits: false, allocated: 0, fileBytes: 0, why: layout };
  const pointer = profile.cpu.wordBits / 8;
  const whole = engineMemory(layout, vocab, pointer, Infinity, stream);
  try {
    const m = engineMemory(layout, vocab, pointer, budget, stream);
    if (m.mode !== whole.mode) throw new DoesNotFit(whole.allocated, budget, kvCacheBytes(layout));
    return { quant, seqLen, mode: m.mode, fits: true, allocated: m.allocated, fileBytes: layout.size, memory: m, why: `${mb(m.allocated)} of ${mb(budget)}` };
  } catch (e) {
    if (!(e instanceof DoesNotFit)) throw e;
    const needs = stream ? e.needs : whole.allocated;
    return { quant, seqLen, mode: stream ? 'stream' : 'ram', fits: false, allocated: needs, fileBytes: layout.size, why: `needs ${mb(needs)} (KV cache ${mb(e.kvCache)}), over ${mb(budget)}` };
  }
}

export function planModel(profile: Profile, facts: ModelFacts, req: PlanChoices): PlanOutcome {
  const usable = usableMb(profile);
  const budgetMb = req.ramBudgetMb ?? usable - codeReserveMb;
  const budget = budgetMb * MB;
  const fullSeq = Math.min(facts.config.seqLen, req.seqLen ?? Infinity);
  const layout = (quant: QuantKind, seqLen: number): NativeLayout | string => {
    try {
      return planNative({ ...facts.config, seqLen }, facts.vocab, quant, req.groupSize, profile.alignment, facts.sharedClassifier, facts.modelPath);
    } catch (e) {
      if (e instanceof ModelFormatError) return 'the model file would be over the 2 GB a 32-bit machine can seek';
      throw e;
    }
  };
  const quants: QuantKind[] = req.quant ? [req.quant] : [...QUANT_NAMES];
  const options: PlanOption[] = [];
  for (const q of quants) {
    const l = layout(q, fullSeq);
    options.push(option(l, facts.vocab, profile, budget, q, fullSeq, false), option(l, facts.vocab, profile, budget, q, fullSeq, true));
  }
  const asked = options.filter((o) => o.quant === (req.quant ?? 'f32'));
  const verdict = asked[0].fits ? 'fits' : asked[1].fits ? 'fits with streaming' : 'does not fit';
  const why = asked[0].fits
    ? `${asked[0].quant} in RAM: ${asked[0].why}`
    : asked[1].fits
      ? `${asked[0].quant} in RAM ${asked[0].why}; streaming the weights from disk: ${asked[1].why}`
      : `${asked[0].quant} in RAM ${asked[0].why}; streaming ${asked[1].why}`;

  // Best first: f32 in RAM, q8 in RAM, q8 streamed (3.5x fewer bytes than f32); q4 only when q8 does not fit; then shorter contexts.
  const order: [QuantKind, boolean][] = [['f32', false], ['q8', false], ['q8', true], ['q4', false], ['q4', true], ['f32', true]];
  let recommendation = order.map(([q, s]) => options.find((o) => o.quant === q && (o.mode === 'stream') === s && o.fits)).find((o) => o);
  for (let seq = 2 ** Math.floor(Math.log2(fullSeq - 1)); !recommendation && seq >= 64; seq /= 2) {
    for (const [q, s] of order) {
      if (!quants.includes(q)) continue;
      const o = option(layout(q, seq), facts.vocab, profile, budget, q, seq, s);
      if (o.fits) {
        recommendation = o;
        break;
      }
    }
  }
  const estimate = recommendation?.memory
    ? estimateSpeed(profile, recommendation.quant, macsPerToken(layout(recommendation.quant, recommendation.seqLen) as NativeLayout), recommendation.memory.weightBytesPerToken, recommendation.memory.readPerToken)
    : undefined;
  return { profile, model: facts.description, config: facts.config, usableMb: usable, budgetBytes: budget, options, verdict, why, recommendation, estimate };
}
