/**
 * `retro verify`: run the built engine (under the profile's emulator, or take a trace that
 * came back from the real machine) and compare it position by position with the reference
 * run on the very model file the target loads.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { InputFileError, ToolchainError, UsageError } from '../errors.js';
import { BinaryFile } from '../model/file.js';
import { readNativeHeader } from '../model/native.js';
import { openModel } from '../model/open.js';
import { loadWeights, type ModelSource } from '../model/source.js';
import { readTokenizer } from '../model/tokenizer.js';
import { convertMatrix, type QuantKind } from '../quant/q8.js';
import type { Config, Vocab, Weights } from '../reference/model.js';
import { loadProfile } from '../profile/load.js';
import type { CrossBuild, Profile } from '../profile/schema.js';
import { buildTransformer } from '../reference/forward.js';
import { generate } from '../reference/generate.js';
import { Sampler } from '../reference/sampler.js';
import { Tokenizer } from '../reference/tokenizer.js';
import { runBinary, which } from '../toolchain/tools.js';
import { compareTrace, type CompareResult, type Tolerance } from '../verify/compare.js';
import { renderReport, type ReportRun } from '../verify/report.js';
import { parseTrace, type Trace } from '../verify/trace.js';
import { writeDefaultModel } from '../model/synthetic.js';
import { MODEL_FILE, readManifest, runBuild, type Manifest } from './build.js';
import { encodePrompt, checkPrompt } from './generate.js';

export type VerifyMode = 'free' | 'forced';

export interface VerifyRequest {
  target: string;
  targetsDir?: string;
  bundle?: string;
  model?: string;
  tokenizer?: string;
  quant: 'f32' | 'q8' | 'q4';
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
}

export interface VerifyRun extends ReportRun {
  tolerance: number;
  kernel: 'simd' | 'scalar';
}

export interface VerifyOutcome {
  profile: Profile;
  bundle: string;
  runs: VerifyRun[];
  skipped: { build: string; reason: string }[];
  report: string;
  pass: boolean;
}

/** The scalar kernels and the integer SIMD kernels must be exact (the profile says 0); a SIMD kernel that fuses or reorders float math has its own stated tolerance. */
export function toleranceFor(profile: Profile, quant: 'f32' | 'q8' | 'q4', kernel: 'simd' | 'scalar'): Tolerance {
  return (kernel === 'simd' ? profile.verify.simd?.[quant] : undefined) ?? profile.verify[quant];
}

export async function runVerify(req: VerifyRequest, progress: (m: string) => void = () => {}): Promise<VerifyOutcome> {
  const profile = loadProfile(req.target, req.targetsDir);
  const bundle = resolve(req.bundle ?? join('dist', profile.id));
  checkPrompt(req.prompt);
  if (!req.trace && (req.model !== undefined || !existsSync(join(bundle, MODEL_FILE)))) {
    progress(`building ${profile.id} into ${bundle}`);
    await runBuild({ target: req.target, targetsDir: req.targetsDir, model: req.model, tokenizer: req.tokenizer, quant: req.quant, groupSize: req.groupSize, out: bundle, compile: true, stream: req.stream, ramBudgetMb: req.ramBudgetMb }, progress);
  }
  const modelPath = join(bundle, MODEL_FILE);
  if (!existsSync(modelPath)) throw new InputFileError(`${modelPath}: no model in the bundle`, `run retro build --target ${profile.id} first (or give --bundle)`);
  // No manifest (a bare model file): compare with the bundle's own model, scalar kernels only.
  let manifest: Manifest = { target: { id: profile.id }, files: [], binaries: [] };
  try {
    manifest = readManifest(bundle);
  } catch {
    /* keep the bare defaults */
  }
  const file = BinaryFile.open(modelPath, 'model');
  const header = readNativeHeader(file, { order: profile.cpu.byteOrder, targetId: profile.id });
  file.close();
  const quant = header.quant;
  const scratch = mkdtempSync(join(tmpdir(), 'retro-verify-'));
  const runs: VerifyRun[] = [];
  const skipped: { build: string; reason: string }[] = [];
  try {
    const { config, weights, vocab } = referenceModel(manifest, modelPath, scratch, progress);
    const add = (build: string, kernel: 'simd' | 'scalar', result: CompareResult) => runs.push({ target: profile.id, build, quant, kernel, result, tolerance: toleranceFor(profile, quant, kernel).logit });
    if (req.trace) {
      // A trace from the machine comes from the engine's default kernel: SIMD where there is one.
      const kernel = (manifest.kernels ?? []).some((k) => k !== 'scalar') ? 'simd' : 'scalar';
      add(`trace ${basename(req.trace)}`, kernel, compareTrace(readTrace(req.trace, profile.id, progress), config, weights, toleranceFor(profile, quant, kernel)));
    } else {
      const tokenizer = new Tokenizer(vocab);
      const promptTokens = encodePrompt(tokenizer, req.prompt, config.seqLen);
      const steps = Math.min(req.steps <= 0 ? config.seqLen : req.steps, config.seqLen);
      // Teacher forcing feeds the reference's own greedy tokens.
      const forced = generate(buildTransformer(config, weights), tokenizer, new Sampler(0, 0.9, 1n), promptTokens, steps, { write: () => {} }).tokens;
      writeFileSync(join(bundle, 'forced.txt'), `${forced.join(' ')}\n`);
      // A bundle with a SIMD kernel is run with it and with the scalar one (-K scalar).
      const kernels: ('simd' | 'scalar')[] = (manifest.kernels ?? []).some((k) => k !== 'scalar') ? ['simd', 'scalar'] : ['scalar'];
      for (const build of profile.cross) {
        const reason = unrunnable(build, bundle);
        if (reason) {
          skipped.push({ build: build.id, reason });
          continue;
        }
        for (const kernel of kernels) {
          for (const mode of req.modes) {
            const traceName = `trace-${mode === 'free' ? 'fr' : 'tf'}.txt`;
            const args =
              mode === 'free'
                ? [MODEL_FILE, '-t', String(req.temperature), '-p', String(req.topp), '-s', String(req.seed), '-n', String(steps), '-i', Buffer.from(req.prompt).toString('utf8'), '-T', traceName]
                : [MODEL_FILE, '-n', String(steps), '-F', 'forced.txt', '-T', traceName];
            if (kernel === 'scalar') args.push('-K', 'scalar');
            progress(`running ${build.output} (${build.id}, ${kernel}, ${mode})`);
            const r = await runBinary(build, join(bundle, build.output), args, { cwd: bundle, env: { WINEPREFIX: join(scratch, 'wine') } });
            if (r.exitCode !== 0) throw new ToolchainError(`${build.output} exited with ${r.exitCode}: ${r.stderr.trim().split('\n').pop()}`, 'run it by hand in the bundle folder to see why');
            const tracePath = join(bundle, traceName);
            add(`${build.id} (${build.run?.emulator || 'native'}, ${kernel})`, kernel, compareTrace(readTrace(tracePath, profile.id, progress), config, weights, toleranceFor(profile, quant, kernel)));
            rmSync(tracePath);
          }
        }
      }
      rmSync(join(bundle, 'forced.txt'));
      if (runs.length === 0) {
        throw new ToolchainError(`nothing to verify for ${profile.id}: ${skipped.map((x) => `${x.build}: ${x.reason}`).join('; ')}`, 'retro doctor --install, or verify a trace from the machine with --trace');
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const report = req.report ?? join(dirname(bundle), `${basename(bundle)}.verify.html`);
  writeFileSync(report, renderReport(runs, `retro verify: ${profile.name}`));
  return { profile, bundle, runs, skipped, report, pass: runs.every((r) => r.result.pass) };
}

/**
 * The reference weights: the source model the bundle was built from, quantized in TypeScript
 * exactly as the converter does, so a converter or file bug (a swapped tensor) shows up as a
 * difference. Falls back to the bundle's own model file when the source is not here.
 */
function referenceModel(manifest: Manifest, modelPath: string, scratch: string, progress: (m: string) => void): { config: Config; weights: Weights; vocab: Vocab } {
  const m = manifest.model;
  let sourcePath: string | undefined;
  let tokenizerPath: string | undefined;
  if (m?.usedDefault) ({ model: sourcePath, tokenizer: tokenizerPath } = writeDefaultModel(scratch));
  else if (m?.source && existsSync(m.source)) {
    sourcePath = m.source;
    tokenizerPath = m.tokenizer ?? undefined;
  }
  if (!sourcePath || !m?.quant) {
    progress('source model not found: comparing against the bundle\'s own model file');
    const src = openModel(modelPath);
    const out = { config: src.config, weights: loadWeights(src), vocab: src.vocab! };
    src.close();
    return out;
  }
  const src = openModel(sourcePath);
  try {
    const vocab = tokenizerPath ? readTokenizer(tokenizerPath, src.config.vocabSize) : src.vocab!;
    return { config: src.config, weights: quantizedWeights(src, m.quant, m.groupSize || 32), vocab };
  } finally {
    src.close();
  }
}

/** A model's weights quantized in TypeScript exactly as the converter quantizes them. */
export function quantizedWeights(src: ModelSource, quant: QuantKind, groupSize: number): Weights {
  const view: ModelSource = {
    ...src,
    tokenEmbedding: () => convertMatrix(src.tokenEmbedding(), quant, groupSize),
    layerMatrix: (name, l) => convertMatrix(src.layerMatrix(name, l), quant, groupSize),
    classifier: () => convertMatrix(src.classifier(), quant, groupSize),
    layerVector: (name, l) => src.layerVector(name, l),
    rmsFinal: () => src.rmsFinal(),
  };
  return loadWeights(view);
}

function readTrace(path: string, targetId: string, progress: (m: string) => void): Trace {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    throw new InputFileError(`${path}: cannot read trace (${(e as NodeJS.ErrnoException).code})`, 'fetch the trace file from the machine first');
  }
  const trace = parseTrace(text, path);
  if (trace.header.target !== targetId) progress(`note: ${basename(path)} was written by the ${trace.header.target} engine`);
  return trace;
}

function unrunnable(build: CrossBuild, bundle: string): string | undefined {
  if (!build.run) return 'the profile gives no way to run it here';
  if (!existsSync(join(bundle, build.output))) return `${build.output} is not in the bundle (compiler missing at build time?)`;
  if (build.run.emulator && !which(build.run.emulator)) return `${build.run.emulator} not installed (apt-get install ${build.run.package ?? build.run.emulator})`;
  return undefined;
}

export function parseModes(mode: string): VerifyMode[] {
  if (mode === 'both') return ['free', 'forced'];
  if (mode === 'free' || mode === 'forced') return [mode];
  throw new UsageError(`--mode ${mode} is not free, forced or both`, 'use --mode both');
}
