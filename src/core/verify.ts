/**
 * `retro verify`: run the built engine (under the profile's emulator, or take a trace that
 * came back from the real machine) and compare it position by position with the reference
 * run on the very model file the target loads. Builds the bundle first when it is missing or
 * when --model asks for another model.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { buildBundle } from '../bundle/build.js';
import { MODEL_FILE } from '../bundle/names.js';
import { UsageError } from '../errors.js';
import { checkPrompt, encodePrompt, withInputs } from '../model/inputs.js';
import { loadProfile } from '../profile/load.js';
import type { QuantKind } from '../quant/kinds.js';
import type { KvCacheKind } from '../reference/model.js';
import { Tokenizer } from '../reference/tokenizer.js';
import { bundleReference, verifyEmulated, verifyTrace, writeReport, type VerifyMode, type VerifyRun, type VerifyVerdict } from '../verify/bundle.js';

export type { VerifyMode, VerifyRun } from '../verify/bundle.js';

export interface VerifyRequest {
  target: string;
  targetsDir?: string;
  bundle?: string;
  model?: string;
  tokenizer?: string;
  quant: QuantKind;
  groupSize: number;
  modes: VerifyMode[];
  steps: number;
  prompt: Uint8Array;
  temperature: number;
  topp: number;
  seed: bigint;
  trace?: string;
  report?: string;
  /** Build options for the engine's memory: always stream, or a RAM budget (MB) that may force streaming. */
  stream?: boolean;
  ramBudgetMb?: number;
  /** The KV cache of a bundle verify builds (default f32); a built bundle's model.rtr says its own. */
  kvCache?: KvCacheKind;
  /** Where emulators keep state between runs (see EmulatedRequest.cacheDir); a scratch folder if absent. */
  cacheDir?: string;
}

export type VerifyOutcome = VerifyVerdict;

export async function runVerify(req: VerifyRequest, progress: (m: string) => void = () => {}): Promise<VerifyOutcome> {
  const profile = loadProfile(req.target, req.targetsDir);
  const bundle = resolve(req.bundle ?? join('dist', profile.id));
  checkPrompt(req.prompt);
  if (!req.trace && (req.model !== undefined || !existsSync(join(bundle, MODEL_FILE)))) {
    progress(`building ${profile.id} into ${bundle}`);
    await withInputs(req, (inputs) => buildBundle(profile, inputs, { quant: req.quant, groupSize: req.groupSize, out: bundle, compile: true, stream: req.stream, ramBudgetMb: req.ramBudgetMb, kvCache: req.kvCache }, progress));
  }
  const ref = bundleReference(profile, bundle, progress);
  let runs: VerifyRun[];
  let skipped: { build: string; reason: string }[] = [];
  if (req.trace) runs = [verifyTrace(ref, req.trace, `trace ${basename(req.trace)}`, progress)];
  else {
    const promptTokens = encodePrompt(new Tokenizer(ref.vocab), req.prompt, ref.config.seqLen);
    ({ runs, skipped } = await verifyEmulated(ref, { ...req, promptTokens }, progress));
  }
  const report = writeReport(ref, runs, req.report);
  return { profile, bundle, runs, skipped, report, pass: runs.every((r) => r.result.pass) };
}

export function parseModes(mode: string): VerifyMode[] {
  if (mode === 'both') return ['free', 'forced'];
  if (mode === 'free' || mode === 'forced') return [mode];
  throw new UsageError(`--mode ${mode} is not free, forced or both`, 'use --mode both');
}
