/** `retro build --target <id>`: the bundle for a target, with --auto taking plan's recommendation; the model is opened once. */
import { join } from 'node:path';
import { buildBundle, type BinaryReport, type Progress } from '../bundle/build.js';
import type { ManifestFile, ManifestModel } from '../bundle/manifest.js';
import { UsageError } from '../errors.js';
import { capContext, checkGroupSize, withInputs } from '../model/inputs.js';
import { planModel } from '../plan/plan.js';
import { loadProfile } from '../profile/load.js';
import type { Profile } from '../profile/schema.js';
import type { QuantKind } from '../quant/kinds.js';
import type { KvCacheKind } from '../reference/model.js';

export interface BuildRequest {
  target: string;
  targetsDir?: string;
  model?: string;
  tokenizer?: string;
  quant: QuantKind;
  groupSize: number;
  out?: string;
  compile: boolean;
  /** Always stream the weights from disk (else only when they do not fit the budget). */
  stream?: boolean;
  /** The engine's default RAM budget in MB (default: what the profile leaves a program). */
  ramBudgetMb?: number;
  /** Cap the context (and so the KV cache) at this many positions. */
  seqLen?: number;
  /** Let retro plan choose quantization, streaming and context for the machine. */
  auto?: boolean;
  /** Replace --out even when it holds files retro did not make. */
  force?: boolean;
  /** The KV cache the engine allocates (default f32). */
  kvCache?: KvCacheKind;
}

export interface BuildReport {
  profile: Profile;
  out: string;
  model: ManifestModel;
  kernels: string[];
  files: ManifestFile[];
  binaries: BinaryReport[];
  seconds: number;
}

export async function runBuild(req: BuildRequest, progress: Progress = () => {}): Promise<BuildReport> {
  const started = Date.now();
  const profile = loadProfile(req.target, req.targetsDir);
  checkGroupSize(req.groupSize);
  const made = await withInputs(req, async (opened) => {
    let inputs = opened;
    if (req.auto) {
      const plan = planModel(profile, inputs, { groupSize: req.groupSize, seqLen: req.seqLen, ramBudgetMb: req.ramBudgetMb, kvCache: req.kvCache });
      const r = plan.recommendation;
      if (!r) throw new UsageError(`${req.model ?? 'the default model'} does not fit ${profile.id} even quantized and streamed: ${plan.why}`, `run retro plan --target ${profile.id} for the numbers; use a smaller model`);
      progress(`--auto: ${r.quant}, ${r.mode === 'stream' ? 'streaming the weights from disk' : 'weights in RAM'}, context ${r.seqLen} (${r.why})`);
      // The budget baked into the engine makes it stream (keeping what layers fit) where plan says so.
      req = { ...req, quant: r.quant };
      inputs = capContext(inputs, r.seqLen);
    } else if (req.seqLen === undefined) {
      // The engine allocates its KV cache, and model.rtr holds RoPE tables, for the whole context: a
      // model made for 131072 positions gets the longest context plan finds fitting the machine.
      const r = planModel(profile, inputs, { quant: req.quant, groupSize: req.groupSize, ramBudgetMb: req.ramBudgetMb, kvCache: req.kvCache }).recommendation;
      if (r && r.seqLen < inputs.config.seqLen) {
        progress(`context capped at ${r.seqLen} of the model's ${inputs.config.seqLen}: the longest that fits ${profile.id} (${r.why}); --seq-len sets it`);
        inputs = capContext(inputs, r.seqLen);
      }
    }
    return buildBundle(profile, inputs, { ...req, out: req.out ?? join('dist', profile.id) }, progress);
  });
  return { profile, ...made, seconds: (Date.now() - started) / 1000 };
}
