/** `retro plan`: what a model needs on a target, whether and how it fits, and an estimated speed. */
import { checkGroupSize, withInputs } from '../model/inputs.js';
import { planModel, type PlanChoices, type PlanOutcome } from '../plan/plan.js';
import { loadProfile } from '../profile/load.js';

export interface PlanRequest extends PlanChoices {
  target: string;
  targetsDir?: string;
  model?: string;
  tokenizer?: string;
}

export function runPlan(req: PlanRequest): PlanOutcome {
  const profile = loadProfile(req.target, req.targetsDir);
  checkGroupSize(req.groupSize);
  return withInputs(req, (inputs) => planModel(profile, inputs, req));
}
