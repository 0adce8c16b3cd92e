/**
 * The bundle step: convert the model for the target, emit the C engine, build scripts and README,
 * compile with the cross compilers found here, check the binaries, and write the manifest. Staged
 * in a scratch folder and renamed into place only when complete. `retro build` runs it, and
 * `retro verify` when the bundle it is asked to check does not exist yet.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { archOf, type Architecture } from '../model/arch.js';
import { checkFileName, defaultMemory, renderBuildScripts, renderEngine, renderReadme, selectKernels, type MemoryDefaults } from '../codegen/render.js';
import { UsageError, VerifyError } from '../errors.js';
import { convertModelYielding } from '../model/convert.js';
import { checkGroupSize, setKvCache, type Inputs } from '../model/inputs.js';
import type { CrossBuild, Profile } from '../profile/schema.js';
import { isIntKind, quantKind, type QuantKind } from '../quant/kinds.js';
import { kvCacheKind, type KvCacheKind } from '../reference/model.js';
import { CHECKS, compile, toolsFor, type CheckResult } from '../toolchain/tools.js';
import { RETRO_VERSION } from '../version.js';
import { sha256File } from './hash.js';
import { writeManifest, type Manifest, type ManifestFile, type ManifestModel } from './manifest.js';
import { ENGINE_FILE, MODEL_FILE, readmeName } from './names.js';
import { openStaging } from './outdir.js';

export interface BundleRequest {
  quant: QuantKind;
  groupSize: number;
  out: string;
  compile: boolean;
  /** Always stream the weights from disk (else only when they do not fit the budget). */
  stream?: boolean;
  /** The engine's default RAM budget in MB (default: what the profile leaves a program). */
  ramBudgetMb?: number;
  /** Replace `out` even when it holds files retro did not make. */
  force?: boolean;
  /** The KV cache the engine allocates (default f32). */
  kvCache?: KvCacheKind;
}

export interface BinaryReport {
  build: CrossBuild;
  status: 'built' | 'skipped';
  file?: string;
  reason?: string;
  checks: CheckResult[];
}

export interface BundleReport {
  out: string;
  model: ManifestModel;
  kernels: string[];
  files: ManifestFile[];
  binaries: BinaryReport[];
}

export type Progress = (message: string) => void;

async function compileAll(profile: Profile, req: BundleRequest, engine: string, memory: MemoryDefaults, arch: Architecture, stage: { dir: string; path(name: string): string }, scratch: string, progress: Progress): Promise<BinaryReport[]> {
  const binaries: BinaryReport[] = [];
  for (const build of profile.cross) {
    if (!req.compile) {
      binaries.push({ build, status: 'skipped', reason: '--no-compile', checks: [] });
      continue;
    }
    if (toolsFor(build).some((t) => !t.found && t.command === build.compiler)) {
      binaries.push({ build, status: 'skipped', reason: `${build.compiler} not installed (apt-get install ${build.package}, or retro doctor --install)`, checks: [] });
      continue;
    }
    progress(`compiling ${build.output} with ${build.compiler}`);
    // A stand-in build (e.g. Linux ELF for a Windows target) gets its own platform shim.
    const src = join(scratch, `${build.id}-${ENGINE_FILE}`);
    writeFileSync(src, build.osFamily ? renderEngine(profile, { osFamily: build.osFamily, memory, arch }) : engine);
    await compile(build, src, stage.path(build.output), stage.dir);
    const checks: CheckResult[] = [];
    for (const check of build.checks) {
      const r = await CHECKS[check.kind](check, stage.path(build.output), profile);
      checks.push(r);
      if (!r.ok) throw new VerifyError(`${build.output} fails the ${r.kind} check: ${r.detail}`, 'the binary would not load on the target; remove the offending call from the engine');
    }
    binaries.push({ build, status: 'built', file: build.output, checks });
  }
  return binaries;
}

/** Builds the bundle from opened inputs (the caller closes them). */
export async function buildBundle(profile: Profile, opened: Inputs, req: BundleRequest, progress: Progress = () => {}): Promise<BundleReport> {
  checkGroupSize(req.groupSize);
  const inputs = setKvCache(opened, req.kvCache ?? 'f32');
  if (req.ramBudgetMb !== undefined && !(req.ramBudgetMb > 0)) throw new UsageError(`--ram-budget ${req.ramBudgetMb} is not a positive number of MB`, 'use e.g. --ram-budget 64');
  const staging = openStaging(req.out, req.force === true);
  const { scratch } = staging;
  const stage = { dir: staging.stage, path: (name: string) => join(staging.stage, name) };
  try {
    const groupSize = isIntKind(req.quant) ? req.groupSize : 0;
    if (inputs.usedDefault) progress(`no --model given: using ${inputs.description}`);
    progress(`converting ${basename(inputs.modelPath)} -> ${MODEL_FILE} (${req.quant}${groupSize ? `, groups of ${groupSize}` : ''}, ${profile.cpu.byteOrder}-endian, ${profile.alignment}-byte aligned${kvCacheKind(inputs.config) === 'f32' ? '' : `, ${kvCacheKind(inputs.config)} KV cache`})`);
    const nativeBytes = await convertModelYielding(inputs.source, inputs.vocab, { id: profile.id, byteOrder: profile.cpu.byteOrder, alignment: profile.alignment }, req.quant, req.groupSize, stage.path(MODEL_FILE));
    const converted = { model: { description: inputs.description, ...inputs.provenance, sourceBytes: inputs.sourceBytes, nativeBytes, quant: req.quant, groupSize, usedDefault: inputs.usedDefault } as ManifestModel, seqLen: inputs.config.seqLen };

    const memory = { budgetMb: req.ramBudgetMb ?? defaultMemory(profile).budgetMb, stream: req.stream === true };
    const arch = archOf(inputs.config);
    const engine = renderEngine(profile, { memory, arch });
    writeFileSync(stage.path(ENGINE_FILE), engine.replace(/\n/g, profile.os.lineEndings === 'crlf' ? '\r\n' : '\n'));
    for (const f of renderBuildScripts(profile, MODEL_FILE)) writeFileSync(stage.path(f.name), f.content);
    const binaries = await compileAll(profile, req, engine, memory, arch, stage, scratch, progress);

    // The README travels to the machine: it lists what goes there, not the emulated stand-ins.
    const standIns = new Set(profile.cross.filter((c) => !c.deploy).map((c) => c.output));
    const sizes = readdirSync(stage.dir)
      .filter((name) => !standIns.has(name))
      .sort()
      .map((name) => ({ name, bytes: statSync(stage.path(name)).size }));
    const readme = renderReadme(profile, { modelDescription: converted.model.description, modelFile: MODEL_FILE, modelBytes: converted.model.nativeBytes, quant: quantKind(req.quant).label(req.groupSize), files: sizes }, readmeName(profile.os.fileNames));
    writeFileSync(stage.path(readme.name), readme.content);
    for (const name of readdirSync(stage.dir)) checkFileName(name, profile);

    const roles: Record<string, string> = { [MODEL_FILE]: 'model', [ENGINE_FILE]: 'source', [readme.name]: 'readme' };
    for (const t of profile.toolchains) roles[t.file] = 'build-script';
    for (const b of binaries) if (b.file) roles[b.file] = `binary:${b.build.id}`;
    const files: ManifestFile[] = [];
    for (const name of readdirSync(stage.dir).sort()) {
      files.push({ name, bytes: statSync(stage.path(name)).size, sha256: await sha256File(stage.path(name)), role: roles[name] ?? 'other' });
    }
    const manifest: Manifest = {
      generator: `retro ${RETRO_VERSION}`,
      target: { id: profile.id, name: profile.name, byteOrder: profile.cpu.byteOrder, alignment: profile.alignment },
      model: converted.model,
      kernels: selectKernels(profile).map((k) => k.simd),
      memory: { ramBudgetMb: memory.budgetMb, stream: memory.stream, seqLen: converted.seqLen, kvCache: kvCacheKind(inputs.config) },
      files,
      binaries: binaries.map((b) => ({ id: b.build.id, status: b.status, file: b.file ?? null, reason: b.reason ?? null, run: b.build.run ?? null })),
    };
    writeManifest(stage.dir, manifest);
    staging.commit();
    return { out: staging.out, model: manifest.model, kernels: manifest.kernels, files, binaries };
  } finally {
    staging.close();
  }
}
