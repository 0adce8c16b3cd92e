/**
 * Plan: what the engine will allocate for a model on a target, whether it fits the machine's RAM
 * (in RAM, by streaming the weights from disk, or not at all), the best configuration that fits,
 * and an estimated speed.
 */
import { ModelFormatError, UsageError } from '../errors.js';
import { planNative, type NativeLayout } from '../model/format.js';
import { codeReserveMb, usableMb, type DiskModel, type Profile } from '../profile/schema.js';
import { QUANT_NAMES, quantKind, type QuantKind } from '../quant/kinds.js';
import { kvCacheKind, withKvCache, type Config, type KvCacheKind, type Vocab } from '../reference/model.js';
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
  /** The KV cache the engine allocates (default f32). */
  kvCache?: KvCacheKind;
  /** The prompt the peak allocation is counted with (default none). */
  prompt?: string;
  /** One of the profile's alternative disks (its id) instead of its own. */
  disk?: string;
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
  /** 'stream': the engine streams because the weights do not fit the budget (or, where they do, because it is told to). */
  mode: 'ram' | 'stream';
  fits: boolean;
  /** Bytes the engine allocates (what -v 1 reports), when it can run at all. */
  allocated: number;
  fileBytes: number;
  memory?: EngineMemory;
  why: string;
  /** The speed estimate, for options that fit. */
  estimate?: Estimate;
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
  /** The options the recommendation was chosen from (at a shorter context when none fits the model's). */
  considered: PlanOption[];
  recommendation?: PlanOption;
  estimate?: Estimate;
  /** When the f32 KV cache shortens the recommended context: what an int8 one would allow. */
  int8Cache?: PlanOption;
}

const MB = 1048576;
const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

function option(layout: NativeLayout | string, vocab: Vocab, profile: Profile, budget: number, quant: QuantKind, seqLen: number, stream: boolean, prompt: string | undefined, disk: DiskModel): PlanOption {
  if (typeof layout === 'string') return { quant, seqLen, mode: stream ? 'stream' : 'ram', fits: false, allocated: 0, fileBytes: 0, why: layout };
  const pointer = profile.cpu.wordBits / 8;
  const whole = engineMemory(layout, vocab, pointer, Infinity, stream);
  // Streaming is forced (-S 1, every layer streamed) only where the weights would fit in RAM;
  // otherwise the budget makes the engine stream, and it keeps what layers it can resident.
  const forced = stream && engineMemory(layout, vocab, pointer, Infinity, false).allocated <= budget;
  try {
    const m = engineMemory(layout, vocab, pointer, budget, forced, prompt);
    if (m.mode !== whole.mode) throw new DoesNotFit(whole.allocated, budget, kvCacheBytes(layout));
    const estimate = estimateSpeed(profile, quant, macsPerToken(layout), m.weightBytesPerToken, { bytes: m.readPerToken, reads: m.readsPerToken }, disk);
    return { quant, seqLen, mode: m.mode, fits: true, allocated: m.allocated, fileBytes: layout.size, memory: m, why: `${mb(m.allocated)} of ${mb(budget)}`, estimate };
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
  const kvCache = req.kvCache ?? kvCacheKind(facts.config);
  const layout = (quant: QuantKind, seqLen: number): NativeLayout | string => {
    try {
      return planNative(withKvCache({ ...facts.config, seqLen }, kvCache), facts.vocab, quant, req.groupSize, profile.alignment, facts.sharedClassifier, facts.modelPath);
    } catch (e) {
      if (e instanceof ModelFormatError) return 'the model file would be over the 2 GB a 32-bit machine can seek';
      throw e;
    }
  };
  const disk = diskModel(profile, req.disk);
  const quants: QuantKind[] = req.quant ? [req.quant] : [...QUANT_NAMES];
  const options: PlanOption[] = [];
  for (const q of quants) {
    const l = layout(q, fullSeq);
    options.push(option(l, facts.vocab, profile, budget, q, fullSeq, false, req.prompt, disk), option(l, facts.vocab, profile, budget, q, fullSeq, true, req.prompt, disk));
  }
  const asked = options.filter((o) => o.quant === (req.quant ?? 'f32'));
  const verdict = asked[0].fits ? 'fits' : asked[1].fits ? 'fits with streaming' : 'does not fit';
  const why = asked[0].fits
    ? `${asked[0].quant} in RAM: ${asked[0].why}`
    : asked[1].fits
      ? `${asked[0].quant} in RAM ${asked[0].why}; streaming the weights from disk: ${asked[1].why}`
      : `${asked[0].quant} in RAM ${asked[0].why}; streaming ${asked[1].why}`;

  let considered = options;
  let recommendation = recommend(considered);
  // Nothing fits at the model's context: try shorter ones, longest first.
  for (let seq = 2 ** Math.floor(Math.log2(fullSeq - 1)); !recommendation && seq >= 64; seq /= 2) {
    considered = quants.flatMap((q) => [false, true].map((s) => option(layout(q, seq), facts.vocab, profile, budget, q, seq, s, req.prompt, disk)));
    recommendation = recommend(considered);
  }
  const estimate = recommendation?.estimate;
  const shortened = kvCache === 'f32' && (!recommendation || recommendation.seqLen < fullSeq);
  const int8Cache = shortened ? planModel(profile, facts, { ...req, kvCache: 'int8' }).recommendation : undefined;
  return { profile, model: facts.description, config: facts.config, usableMb: usable, budgetBytes: budget, options, verdict, why, considered, recommendation, estimate, ...(int8Cache ? { int8Cache } : {}) };
}

/** The profile's disk, or the alternative named. */
function diskModel(profile: Profile, id: string | undefined): DiskModel {
  const disks = [profile.disk, ...profile.disk.alternatives];
  const d = id === undefined ? profile.disk : disks.find((x) => x.id === id);
  if (!d) throw new UsageError(`--disk ${id}: ${profile.id} has no such disk`, `use one of ${disks.map((x) => x.id).join(', ')}`);
  return d;
}

const rank = (q: QuantKind) => QUANT_NAMES.indexOf(q);

/**
 * The fastest option that fits by its estimate, with a quality guard: a less exact kind is chosen
 * over the best option of a more exact one only when it is estimated at least its `guard.speedup`
 * times faster (quant/kinds.ts says why, from what retro quality measured).
 */
export function recommend(options: PlanOption[]): PlanOption | undefined {
  const fitting = options.filter((o) => o.fits && o.estimate).sort((a, b) => b.estimate!.tokensPerSecond - a.estimate!.tokensPerSecond || rank(a.quant) - rank(b.quant));
  let pick: PlanOption | undefined;
  for (const o of fitting) {
    if (!pick) pick = o;
    else if (rank(o.quant) < rank(pick.quant) && o.estimate!.tokensPerSecond * quantKind(pick.quant).guard.speedup >= pick.estimate!.tokensPerSecond) pick = o;
  }
  return pick;
}
