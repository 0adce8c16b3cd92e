/**
 * Verifying a bundle: the reference for the model file it holds, its binaries run under the
 * profile's emulators (with the SIMD kernel and the scalar one), and traces from the real machine,
 * each compared position by position.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { readManifest, type Manifest } from '../bundle/manifest.js';
import { MODEL_FILE } from '../bundle/names.js';
import { engineArgs } from '../codegen/engine-args.js';
import { InputFileError, ToolchainError } from '../errors.js';
import { withInputs } from '../model/inputs.js';
import { BinaryFile, readBounded } from '../model/file.js';
import { readNativeHeader } from '../model/native.js';
import { openModel } from '../model/open.js';
import { loadQuantizedWeights, loadWeights } from '../model/source.js';
import type { CrossBuild, Profile } from '../profile/schema.js';
import type { QuantKind } from '../quant/kinds.js';
import { kvCacheKind, withKvCache, type Config, type KvCacheKind, type Vocab, type Weights } from '../reference/model.js';
import { Tokenizer } from '../reference/tokenizer.js';
import { emulatorProblem, runBinary, which } from '../toolchain/tools.js';
import { compareTrace, type CompareResult, type Tolerance } from './compare.js';
import { greedyTokens } from './reference.js';
import { renderReport, type ReportRun } from './report.js';
import { MAX_TRACE_BYTES, parseTrace, type Trace } from './trace.js';

export type VerifyMode = 'free' | 'forced';

export interface VerifyRun extends ReportRun {
  tolerance: number;
  kernel: Kernel;
}

type Kernel = 'simd' | 'scalar';

/** The scalar kernels and the integer SIMD kernels must be exact (the profile says 0); a SIMD kernel that fuses or reorders float math has its own stated tolerance. */
export function toleranceFor(profile: Profile, quant: QuantKind, kernel: Kernel): Tolerance {
  return (kernel === 'simd' ? profile.verify.simd?.[quant] : undefined) ?? profile.verify[quant];
}

/** The verdict on a bundle or a trace: what retro verify prints. */
export interface VerifyVerdict {
  profile: Profile;
  bundle: string;
  runs: VerifyRun[];
  skipped: { build: string; reason: string }[];
  report: string;
  pass: boolean;
}

/** What a bundle's engines are compared with. */
export interface BundleReference {
  profile: Profile;
  bundle: string;
  manifest: Manifest | undefined;
  quant: QuantKind;
  config: Config;
  weights: Weights;
  vocab: Vocab;
}

/**
 * The reference weights: the source model the bundle was built from, quantized in TypeScript
 * exactly as the converter does, so a converter or file bug (a swapped tensor) shows up as a
 * difference. Falls back to the bundle's own model file when the source is not here.
 */
export function bundleReference(profile: Profile, bundle: string, progress: (m: string) => void): BundleReference {
  const modelPath = join(bundle, MODEL_FILE);
  if (!existsSync(modelPath)) throw new InputFileError(`${modelPath}: no model in the bundle`, `run retro build --target ${profile.id} first (or give --bundle)`);
  // No manifest (a bare model file): compare with the bundle's own model, scalar kernels only.
  const manifest = existsSync(join(bundle, 'manifest.json')) ? readManifest(bundle) : undefined;
  const file = BinaryFile.open(modelPath, 'model');
  let quant: QuantKind;
  let kvCache: KvCacheKind;
  try {
    const header = readNativeHeader(file, { order: profile.cpu.byteOrder, targetId: profile.id });
    quant = header.quant;
    kvCache = kvCacheKind(header.config);
  } finally {
    file.close();
  }
  const base = { profile, bundle, manifest, quant };
  const m = manifest?.model;
  if (m && (m.usedDefault || existsSync(m.source))) {
    return withInputs({ model: m.usedDefault ? undefined : m.source, tokenizer: m.tokenizer ?? undefined }, (inputs) => ({
      ...base,
      config: withKvCache(inputs.config, kvCache),
      weights: loadQuantizedWeights(inputs.source, m.quant, m.groupSize || 32),
      vocab: inputs.vocab,
    }));
  }
  progress("source model not found: comparing against the bundle's own model file");
  const src = openModel(modelPath);
  try {
    return { ...base, config: src.config, weights: loadWeights(src), vocab: src.vocab! };
  } finally {
    src.close();
  }
}

function readTrace(path: string, targetId: string, progress: (m: string) => void): Trace {
  const text = readBounded(path, MAX_TRACE_BYTES, 'trace', 'pass the file the engine wrote with -T (about 200 bytes a position)').toString('latin1');
  const trace = parseTrace(text, path);
  if (trace.header.target !== targetId) progress(`note: ${basename(path)} was written by the ${trace.header.target} engine`);
  return trace;
}

/** The kernel a bundle's engine runs by default: SIMD where the bundle has one. */
function defaultKernel(ref: BundleReference): Kernel {
  return (ref.manifest?.kernels ?? []).some((k) => k !== 'scalar') ? 'simd' : 'scalar';
}

/** A trace written by an engine (here or on the real machine, with `kernel`, by default its default one), compared with the reference. */
export function verifyTrace(ref: BundleReference, tracePath: string, label: string, progress: (m: string) => void, kernel: Kernel = defaultKernel(ref)): VerifyRun {
  const tol = toleranceFor(ref.profile, ref.quant, kernel);
  const result = compareTrace(readTrace(tracePath, ref.profile.id, progress), ref.config, ref.weights, tol);
  return { target: ref.profile.id, build: label, quant: ref.quant, kernel, result, tolerance: tol.logit };
}

export interface EmulatedRequest {
  modes: VerifyMode[];
  steps: number;
  prompt: Uint8Array;
  promptTokens: number[];
  temperature: number;
  topp: number;
  seed: bigint;
  /** A folder kept between runs: an emulator's state (wine's prefix, about 600 MB and seconds to make) is made there once. */
  cacheDir?: string;
}

function unrunnable(build: CrossBuild, bundle: string): string | undefined {
  if (!build.run) return 'the profile gives no way to run it here';
  if (!existsSync(join(bundle, build.output))) return `${build.output} is not in the bundle (compiler missing at build time?)`;
  if (build.run.emulator && !which(build.run.emulator)) return `${build.run.emulator} not installed (apt-get install ${build.run.package ?? build.run.emulator})`;
  return build.run.emulator ? emulatorProblem(build.run.emulator) : undefined;
}

/** The positions a run of `steps` covers (all of the context for 0 or less). */
export function traceSteps(ref: BundleReference, steps: number): number {
  return Math.min(steps <= 0 ? ref.config.seqLen : steps, ref.config.seqLen);
}

/** Teacher forcing feeds the reference's own greedy tokens: the file the engine reads with -F. */
export function forcedTokens(ref: BundleReference, promptTokens: number[], steps: number): string {
  return `${greedyTokens(ref.config, ref.weights, new Tokenizer(ref.vocab), promptTokens, steps).join(' ')}\n`;
}

/** Runs every binary of the bundle that can run here, free-running and teacher-forced, SIMD and scalar. */
export async function verifyEmulated(ref: BundleReference, req: EmulatedRequest, progress: (m: string) => void): Promise<{ runs: VerifyRun[]; skipped: { build: string; reason: string }[] }> {
  const { profile, bundle } = ref;
  const runs: VerifyRun[] = [];
  const skipped: { build: string; reason: string }[] = [];
  const steps = traceSteps(ref, req.steps);
  const forcedFile = 'forced.txt';
  writeFileSync(join(bundle, forcedFile), forcedTokens(ref, req.promptTokens, steps));
  const scratch = mkdtempSync(join(tmpdir(), 'retro-verify-'));
  if (req.cacheDir) mkdirSync(req.cacheDir, { recursive: true });
  // A bundle with a SIMD kernel is run with it and with the scalar one (-K scalar).
  const kernels: Kernel[] = defaultKernel(ref) === 'simd' ? ['simd', 'scalar'] : ['scalar'];
  try {
    for (const build of profile.cross) {
      const reason = unrunnable(build, bundle);
      if (reason) {
        skipped.push({ build: build.id, reason });
        continue;
      }
      for (const kernel of kernels) {
        for (const mode of req.modes) {
          const traceName = `trace-${mode === 'free' ? 'fr' : 'tf'}.txt`;
          const common = { model: MODEL_FILE, steps, trace: traceName, kernel: kernel === 'scalar' ? kernel : undefined };
          const args = engineArgs(mode === 'free' ? { ...common, temperature: req.temperature, topp: req.topp, seed: req.seed, prompt: req.prompt } : { ...common, forced: forcedFile });
          progress(`running ${build.output} (${build.id}, ${kernel}, ${mode})`);
          const r = await runBinary(build, join(bundle, build.output), args, { cwd: bundle, env: { WINEPREFIX: join(req.cacheDir ?? scratch, 'wine') } });
          if (r.exitCode !== 0) throw new ToolchainError(`${build.output} exited with ${r.exitCode}: ${r.stderr.trim().split('\n').pop()}`, 'run it by hand in the bundle folder to see why');
          const tracePath = join(bundle, traceName);
          runs.push(verifyTrace(ref, tracePath, `${build.id} (${build.run?.emulator || 'native'}, ${kernel})`, progress, kernel));
          rmSync(tracePath);
        }
      }
    }
  } finally {
    // An engine that failed may leave its trace: nothing of a run stays in the bundle.
    for (const f of [forcedFile, 'trace-fr.txt', 'trace-tf.txt']) rmSync(join(bundle, f), { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
  if (runs.length === 0) {
    throw new ToolchainError(`nothing to verify for ${profile.id}: ${skipped.map((x) => `${x.build}: ${x.reason}`).join('; ')}`, 'retro doctor --install, or verify a trace from the machine with --trace');
  }
  return { runs, skipped };
}

/** The HTML report with a per-position error chart, next to the bundle unless a path is given. */
export function writeReport(ref: BundleReference, runs: VerifyRun[], path?: string): string {
  const report = path ?? join(dirname(ref.bundle), `${basename(ref.bundle)}.verify.html`);
  writeFileSync(report, renderReport(runs, `retro verify: ${ref.profile.name}`));
  return report;
}
