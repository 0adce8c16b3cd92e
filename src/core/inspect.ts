/**
 * `retro inspect`: what a model file or folder holds (architecture, shape, tensor types and bytes,
 * tokenizer, special ids, chat template) and what `retro plan` says about it on each built-in target.
 */
import { archOf } from '../model/arch.js';
import { RetroError } from '../errors.js';
import { withInputs, type Inputs } from '../model/inputs.js';
import { openModel } from '../model/open.js';
import { planModel } from '../plan/plan.js';
import type { TensorSummary, TokenizerInfo } from '../model/source.js';
import { listProfiles } from '../profile/load.js';
import { headSize, kvDim, type Config } from '../reference/model.js';

export interface InspectRequest {
  model: string;
  targetsDir?: string;
}

export interface TypeTotal {
  type: string;
  tensors: number;
  bytes: number;
}

export interface TargetPlan {
  target: string;
  verdict: string;
  why: string;
  recommended?: string; // the build flags plan recommends
  tokensPerSecond?: number; // plan's ESTIMATE
}

export interface InspectOutcome {
  path: string;
  format: string;
  architecture: string;
  /** What the family's row computes (src/model/arch.ts). */
  family: { norms: string; activation: string; rope: string; layer: string[] };
  config: Omit<Config, 'ropeFreqFactors'> & { headSize: number; kvDim: number; ropeFreqFactors: number[] | null };
  sharedClassifier: boolean;
  storage: string;
  types: TypeTotal[] | null; // null where the format has no per-tensor types (llama2.c)
  tensors: readonly TensorSummary[] | null;
  tokenizer: (TokenizerInfo & { readable: boolean; problem?: string }) | null;
  plans: TargetPlan[];
}

export function runInspect(req: InspectRequest): InspectOutcome {
  const src = openModel(req.model);
  let outcome: Omit<InspectOutcome, 'plans'>;
  try {
    const c = src.config;
    let types: TypeTotal[] | null = null;
    if (src.tensors) {
      const totals = new Map<string, TypeTotal>();
      for (const t of src.tensors) {
        const x = totals.get(t.type) ?? { type: t.type, tensors: 0, bytes: 0 };
        x.tensors++;
        x.bytes += t.bytes;
        totals.set(t.type, x);
      }
      types = [...totals.values()].sort((a, b) => b.bytes - a.bytes);
    }
    let tokenizer: InspectOutcome['tokenizer'] = null;
    try {
      const v = src.vocab;
      if (src.tokenizer) tokenizer = { ...src.tokenizer, readable: v !== undefined };
      else if (v) tokenizer = { kind: 'llama', size: v.pieces.length, chatTemplate: false, bosId: v.bosId, eosId: v.eosId, readable: true };
    } catch (e) {
      if (!(e instanceof RetroError) || !src.tokenizer) throw e;
      tokenizer = { ...src.tokenizer, readable: false, problem: e.message };
    }
    const { ropeFreqFactors, ...rest } = c;
    outcome = {
      path: req.model,
      format: src.format,
      architecture: archOf(c).name,
      family: { norms: archOf(c).norms, activation: archOf(c).activation, rope: archOf(c).noRopeEvery ? `interleaved pairs, none on every ${archOf(c).noRopeEvery}th layer` : 'interleaved pairs', layer: archOf(c).layer.map((x) => x.name) },
      config: { ...rest, headSize: headSize(c), kvDim: kvDim(c), ropeFreqFactors: ropeFreqFactors ? [...ropeFreqFactors] : null },
      sharedClassifier: src.sharedClassifier,
      storage: src.storage,
      types,
      tensors: src.tensors ?? null,
      tokenizer,
    };
  } finally {
    src.close();
  }
  const profiles = listProfiles(req.targetsDir);
  const planAll = (inputs: Inputs) =>
    profiles.map((p): TargetPlan => {
      try {
        const r = planModel(p, inputs, { groupSize: 32 });
        // the best setup that fits, not only the f32 default plan starts from
        const o = r.recommendation;
        return {
          target: p.id,
          verdict: o ? (o.mode === 'stream' ? 'fits with streaming' : 'fits') : 'does not fit',
          why: o ? `${o.quant}: ${o.why}` : r.why,
          ...(o ? { recommended: `--quant ${o.quant}${o.seqLen < r.config.seqLen ? ` --seq-len ${o.seqLen}` : ''}` } : {}),
          ...(r.estimate ? { tokensPerSecond: r.estimate.tokensPerSecond } : {}),
        };
      } catch (e) {
        if (!(e instanceof RetroError)) throw e;
        return { target: p.id, verdict: 'cannot plan', why: e.message };
      }
    });
  let plans: TargetPlan[];
  try {
    plans = withInputs({ model: req.model }, planAll);
  } catch (e) {
    if (!(e instanceof RetroError)) throw e;
    plans = profiles.map((p) => ({ target: p.id, verdict: 'cannot plan', why: (e as RetroError).message }));
  }
  return { ...outcome, plans };
}
