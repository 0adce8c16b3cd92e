/**
 * `retro build --target <id>`: convert the model for the target, emit the C
 * engine and native build scripts, compile with the cross compilers found
 * here, check the binaries, and write a manifest. Everything is staged in a
 * scratch folder and moved into place only when complete.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { openStaging } from '../bundle/outdir.js';
import { ENGINE_FILE, checkFileName, codeReserveMb, renderBuildScripts, renderEngine, renderReadme, selectKernels, usableMb } from '../codegen/render.js';
import { InputFileError, UsageError, VerifyError } from '../errors.js';
import { runPlan } from './plan.js';
import { NATIVE, NativeWriter, planNative, type NativeQuant } from '../model/native.js';
import { openModel } from '../model/open.js';
import type { ModelSource } from '../model/source.js';
import { DEFAULT_MODEL, writeDefaultModel } from '../model/synthetic.js';
import { readTokenizer } from '../model/tokenizer.js';
import { loadProfile } from '../profile/load.js';
import type { CrossBuild, Profile } from '../profile/schema.js';
import { convertMatrix, type QuantKind } from '../quant/q8.js';
import { CHECKS, compile, toolsFor, type CheckResult } from '../toolchain/tools.js';
import { ropeTables } from '../reference/forward.js';
import type { Matrix, Vocab } from '../reference/model.js';

export const RETRO_VERSION = '0.1.0';
export const MODEL_FILE = 'model.rtr';
export const MANIFEST_FILE = 'manifest.json';

export interface BuildRequest {
  target: string;
  targetsDir?: string;
  model?: string;
  tokenizer?: string;
  quant: NativeQuant;
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
}

export interface BinaryReport {
  build: CrossBuild;
  status: 'built' | 'skipped';
  file?: string;
  reason?: string;
  checks: CheckResult[];
}

export interface BuildReport {
  profile: Profile;
  out: string;
  model: { description: string; source: string; tokenizer: string | null; format: string; sourceBytes: number; nativeBytes: number; quant: NativeQuant; groupSize: number; usedDefault: boolean };
  kernels: string[];
  files: { name: string; bytes: number; sha256: string; role: string }[];
  binaries: BinaryReport[];
  seconds: number;
}

export interface Progress {
  (message: string): void;
}

/** What manifest.json says of a bundle (the fields its readers use). */
export interface Manifest {
  target: { id: string };
  model?: { source?: string; tokenizer?: string | null; usedDefault?: boolean; quant?: QuantKind; groupSize?: number };
  kernels?: string[];
  files: { name: string; bytes: number; sha256: string; role: string }[];
  binaries: { id: string; file: string | null }[];
}

export function readManifest(bundle: string): Manifest {
  const path = join(bundle, MANIFEST_FILE);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputFileError(`${path}: ${code === 'ENOENT' ? 'no manifest: this is not a retro bundle' : 'the manifest is not valid JSON'}`, 'run retro build --target <id> first, or point --bundle at its output folder');
  }
}

/** sha256 of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((ok, fail) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => ok(h.digest('hex')))
      .on('error', fail);
  });
}

/** Streams the source into the native file, one tensor in memory at a time. */
export function convertModel(src: ModelSource, vocab: Vocab, profile: Profile, quant: NativeQuant, groupSize: number, path: string): number {
  const layout = planNative(src.config, vocab, quant, groupSize, profile.alignment, src.sharedClassifier, src.path);
  const writer = new NativeWriter(path, layout, profile.cpu.byteOrder, profile.id, vocab);
  try {
    writer.write(convertMatrix(src.tokenEmbedding(), quant, groupSize));
    const mat = (name: 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'w3', l: number) => writer.write(convertMatrix(src.layerMatrix(name, l), quant, groupSize));
    for (let l = 0; l < src.config.nLayers; l++) {
      writer.write(src.layerVector('rms_att', l));
      for (const name of ['wq', 'wk', 'wv', 'wo'] as const) mat(name, l);
      writer.write(src.layerVector('rms_ffn', l));
      for (const name of ['w1', 'w3', 'w2'] as const) mat(name, l);
    }
    writer.write(src.rmsFinal());
    // RoPE angles ship as tables: the same numbers on every target, no libm sin/cos (which differ, or trap on old CPUs).
    const rope = ropeTables(src.config);
    const half = src.config.dim / src.config.nHeads / 2;
    writer.write({ kind: 'f32', rows: src.config.seqLen, cols: half, data: rope.cos });
    writer.write({ kind: 'f32', rows: src.config.seqLen, cols: half, data: rope.sin });
    if (!src.sharedClassifier) writer.write(convertMatrix(src.classifier() as Matrix, quant, groupSize));
    writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return layout.size;
}

export async function runBuild(req: BuildRequest, progress: Progress = () => {}): Promise<BuildReport> {
  const started = Date.now();
  const profile = loadProfile(req.target, req.targetsDir);
  if (req.auto) {
    const plan = runPlan({ target: req.target, targetsDir: req.targetsDir, model: req.model, tokenizer: req.tokenizer, groupSize: req.groupSize, seqLen: req.seqLen, ramBudgetMb: req.ramBudgetMb });
    const r = plan.recommendation;
    if (!r) throw new UsageError(`${req.model ?? 'the default model'} does not fit ${profile.id} even quantized and streamed: ${plan.why}`, `run retro plan --target ${profile.id} for the numbers; use a smaller model`);
    progress(`--auto: ${r.quant}, ${r.mode === 'stream' ? 'streaming the weights from disk' : 'weights in RAM'}, context ${r.seqLen} (${r.why})`);
    req = { ...req, auto: false, quant: r.quant, stream: r.mode === 'stream', seqLen: r.seqLen };
  }
  if (!Number.isInteger(req.groupSize) || req.groupSize < 1 || req.groupSize > 4096) {
    throw new UsageError(`--group-size ${req.groupSize} is not a whole number in 1..4096`, 'use e.g. --group-size 32');
  }
  const out = resolve(req.out ?? join('dist', profile.id));
  const staging = openStaging(out, req.force === true);
  const { stage, scratch } = staging;
  try {
    let modelPath = req.model;
    let tokenizerPath = req.tokenizer;
    const usedDefault = modelPath === undefined;
    if (usedDefault) {
      progress(`no --model given: using ${DEFAULT_MODEL.description}`);
      ({ model: modelPath, tokenizer: tokenizerPath } = writeDefaultModel(scratch));
    }
    const opened = openModel(modelPath!);
    if (req.seqLen !== undefined && (!Number.isInteger(req.seqLen) || req.seqLen < 1)) throw new UsageError(`--seq-len ${req.seqLen} is not a positive whole number`, 'use e.g. --seq-len 256');
    const src: ModelSource = { ...opened, config: { ...opened.config, seqLen: Math.min(opened.config.seqLen, req.seqLen ?? Infinity) } };
    let nativeBytes: number;
    let description: string;
    try {
      const vocab = tokenizerPath !== undefined ? readTokenizer(tokenizerPath, src.config.vocabSize) : src.vocab;
      if (!vocab) throw new UsageError(`${modelPath}: the model has no embedded tokenizer`, 'pass one with -z/--tokenizer');
      const c = src.config;
      description = usedDefault
        ? DEFAULT_MODEL.description
        : `${basename(modelPath!)} (${src.format}, dim ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads, vocab ${c.vocabSize}, context ${c.seqLen})`;
      progress(`converting ${basename(modelPath!)} -> ${MODEL_FILE} (${req.quant}${req.quant !== 'f32' ? `, groups of ${req.groupSize}` : ''}, ${profile.cpu.byteOrder}-endian, ${profile.alignment}-byte aligned)`);
      nativeBytes = convertModel(src, vocab, profile, req.quant, req.groupSize, join(stage, MODEL_FILE));
    } finally {
      opened.close();
    }

    if (req.ramBudgetMb !== undefined && !(req.ramBudgetMb > 0)) throw new UsageError(`--ram-budget ${req.ramBudgetMb} is not a positive number of MB`, 'use e.g. --ram-budget 64');
    const memory = { budgetMb: req.ramBudgetMb ?? usableMb(profile) - codeReserveMb, stream: req.stream === true };
    const engine = renderEngine(profile, NATIVE, RETRO_VERSION, profile.os.family, memory);
    writeFileSync(join(stage, ENGINE_FILE), engine.replace(/\n/g, profile.os.lineEndings === 'crlf' ? '\r\n' : '\n'));
    for (const f of renderBuildScripts(profile)) writeFileSync(join(stage, f.name), f.content);

    const binaries: BinaryReport[] = [];
    for (const build of profile.cross) {
      const missing = toolsFor(build).filter((t) => !t.found && t.command === build.compiler);
      if (!req.compile) {
        binaries.push({ build, status: 'skipped', reason: '--no-compile', checks: [] });
        continue;
      }
      if (missing.length > 0) {
        binaries.push({ build, status: 'skipped', reason: `${build.compiler} not installed (apt-get install ${build.package}, or retro doctor --install)`, checks: [] });
        continue;
      }
      progress(`compiling ${build.output} with ${build.compiler}`);
      // A stand-in build (e.g. Linux ELF for a Windows target) gets its own platform shim.
      const src = join(scratch, `${build.id}-${ENGINE_FILE}`);
      writeFileSync(src, build.osFamily ? renderEngine(profile, NATIVE, RETRO_VERSION, build.osFamily, memory) : engine);
      await compile(build, src, join(stage, build.output), stage);
      const checks: CheckResult[] = [];
      for (const check of build.checks) {
        const r = await CHECKS[check.kind](check, join(stage, build.output));
        checks.push(r);
        if (!r.ok) throw new VerifyError(`${build.output} fails the ${r.kind} check: ${r.detail}`, 'the binary would not load on the target; remove the offending call from the engine');
      }
      binaries.push({ build, status: 'built', file: build.output, checks });
    }

    const listed = readdirSync(stage).sort();
    const readmeName = profile.os.fileNames === '8.3' ? 'readme.txt' : 'README.txt';
    const sizes = listed.map((name) => ({ name, bytes: statSync(join(stage, name)).size }));
    const readme = renderReadme(
      profile,
      { modelDescription: description, modelFile: MODEL_FILE, modelBytes: nativeBytes, quant: req.quant === 'q8' ? `Q8 (int8, groups of ${req.groupSize})` : req.quant === 'q4' ? `Q4 (4-bit, two per byte, groups of ${req.groupSize})` : 'float32', files: sizes },
      readmeName,
    );
    writeFileSync(join(stage, readme.name), readme.content);
    for (const name of readdirSync(stage)) checkFileName(name, profile);

    const roles: Record<string, string> = { [MODEL_FILE]: 'model', [ENGINE_FILE]: 'source', [readme.name]: 'readme' };
    for (const t of profile.toolchains) roles[t.file] = 'build-script';
    for (const b of binaries) if (b.file) roles[b.file] = `binary:${b.build.id}`;
    const files = [];
    for (const name of readdirSync(stage).sort()) {
      files.push({ name, bytes: statSync(join(stage, name)).size, sha256: await sha256File(join(stage, name)), role: roles[name] ?? 'other' });
    }
    const sourceBytes = statSync(modelPath!).size;
    const model = { description, source: usedDefault ? 'built-in default' : resolve(modelPath!), tokenizer: usedDefault || tokenizerPath === undefined ? null : resolve(tokenizerPath), format: usedDefault ? 'synthetic' : openFormat(modelPath!), sourceBytes, nativeBytes, quant: req.quant, groupSize: req.quant !== 'f32' ? req.groupSize : 0, usedDefault };
    const manifest = {
      generator: `retro ${RETRO_VERSION}`,
      target: { id: profile.id, name: profile.name, byteOrder: profile.cpu.byteOrder, alignment: profile.alignment },
      model,
      kernels: selectKernels(profile).map((k) => k.simd),
      memory: { ramBudgetMb: memory.budgetMb, stream: memory.stream, seqLen: src.config.seqLen },
      files,
      binaries: binaries.map((b) => ({ id: b.build.id, status: b.status, file: b.file ?? null, reason: b.reason ?? null, run: b.build.run ?? null })),
    };
    // The manifest stays on the host side of the bundle: it is not subject to the target's file-name rule.
    writeFileSync(join(stage, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);

    staging.commit();
    return { profile, out, model, kernels: manifest.kernels, files, binaries, seconds: (Date.now() - started) / 1000 };
  } finally {
    staging.close();
  }
}

function openFormat(path: string): string {
  const m = openModel(path);
  m.close();
  return m.format;
}
