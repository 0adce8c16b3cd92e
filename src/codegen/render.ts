/**
 * Renders the C engine, the native build scripts and the bundle README from
 * templates/. All decisions are made here; templates only test profile
 * fields and loop over the lists computed below.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { ProfileError } from '../errors.js';
import type { NativeToolchain, Profile } from '../profile/schema.js';
import { EXPF_CONSTANTS, EXPF_EXCEPTIONS, EXPF_TAB_HI, EXPF_TAB_LO } from '../reference/expf.js';

export const TEMPLATES = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates');

export interface RenderedFile {
  name: string;
  content: string;
  role: 'source' | 'build-script' | 'readme';
}

/** The native-format constants the engine is compiled against. */
export interface FormatConstants {
  version: number;
  headerBytes: number;
  entryBytes: number;
  nameBytes: number;
  fileSizeOffset: number;
  targetIdOffset: number;
}

export const ENGINE_FILE = 'retro.c';

/**
 * Kernels are files: templates/kernels/<simd>.c.ejs. The scalar one is always there (the
 * reference order, and what -DRT_SCALAR builds); the first SIMD family the profile lists that
 * has a file joins it and takes over where the compiler supports it.
 */
export function selectKernels(profile: Profile): { simd: string; template: string }[] {
  const kernels = [{ simd: 'scalar', template: 'kernels/scalar.c.ejs' }];
  const simd = profile.cpu.simd.find((s) => existsSync(join(TEMPLATES, `kernels/${s}.c.ejs`)));
  if (simd) kernels.push({ simd, template: `kernels/${simd}.c.ejs` });
  return kernels;
}

function render(template: string, data: Record<string, unknown>): string {
  return ejs.render(readTemplate(template), data, { filename: join(TEMPLATES, template), rmWhitespace: false });
}

function readTemplate(name: string): string {
  return ejs.fileLoader(join(TEMPLATES, name)).toString();
}

export function lineEndings(text: string, profile: Profile): string {
  return profile.os.lineEndings === 'crlf' ? text.replace(/\r?\n/g, '\r\n') : text;
}

/** Memory defaults baked into the engine: the RAM budget (MB) and whether to stream the weights always. */
export interface MemoryDefaults {
  budgetMb: number;
  stream: boolean;
}

/** The RAM a program may use on the machine: what the OS leaves, within the address space. */
export function usableMb(profile: Profile): number {
  return Math.min(profile.memory.ramMb - profile.memory.osReservedMb, profile.memory.addressSpaceMb);
}

/**
 * Threads backends by OS family: POSIX threads where the machine has more than one hardware
 * thread; libxenon's thread API is not wired yet, so the Xbox 360 Makefile build runs serial.
 */
const THREADS: Partial<Record<Profile['os']['family'], string>> = { posix: 'pthreads' };

export function threadsBackend(profile: Profile, osFamily: Profile['os']['family']): string {
  return profile.cpu.threads > 1 ? (THREADS[osFamily] ?? 'serial') : 'serial';
}

/** Left out of the engine's default RAM budget for its code, C library and stack. */
export const codeReserveMb = 2;

export function renderEngine(profile: Profile, format: FormatConstants, version: string, osFamily: Profile['os']['family'] = profile.os.family, memory: MemoryDefaults = { budgetMb: usableMb(profile) - codeReserveMb, stream: false }): string {
  const primary = profile.cross[0]?.output ?? profile.toolchains[0]?.output ?? 'retro';
  const threads = threadsBackend(profile, osFamily);
  return render('engine.c.ejs', {
    target: {
      id: profile.id,
      name: profile.name,
      byteOrder: profile.cpu.byteOrder,
      alignment: profile.alignment,
      osFamily,
    },
    retroVersion: version,
    binaryName: primary,
    format,
    maxAllocBytes: Math.min(profile.memory.addressSpaceMb, 2048) * 1024 * 1024 - 1,
    shim: `shims/${osFamily}.c.ejs`,
    threads: `threads/${threads}.c.ejs`,
    fpu: `fpu/${profile.cpu.fpuControl ?? 'none'}.c.ejs`,
    defaultThreads: threads === 'serial' ? 1 : profile.cpu.threads,
    memory: { budgetMb: String(memory.budgetMb), stream: memory.stream },
    kernels: selectKernels(profile).map((k) => k.template),
    expf: expfData(),
  });
}

const hex = (bits: number) => `0x${bits.toString(16).padStart(8, '0')}UL`;

/** The reference's exp tables as C initializer rows (templates/expf.c.ejs). */
export function expfData(): { constants: [string, string][]; tabHi: string[]; tabLo: string[]; exceptions: string[] } {
  const rows = (t: readonly number[]) => Array.from({ length: t.length / 8 }, (_, i) => t.slice(i * 8, i * 8 + 8).map((b) => `{${hex(b)}},`).join(' '));
  return {
    constants: Object.entries(EXPF_CONSTANTS).map(([name, bits]) => [name, `0x${bits.toString(16).padStart(8, '0')}`]),
    tabHi: rows(EXPF_TAB_HI),
    tabLo: rows(EXPF_TAB_LO),
    exceptions: EXPF_EXCEPTIONS.map(([x, y]) => `{{${hex(x)}}, {${hex(y)}}},`),
  };
}

/** retro's exp alone, for the exhaustive check (test/reference/expf.test.ts); the engine includes the same template. */
export function renderExpf(): string {
  return render('expf.c.ejs', { expf: expfData() });
}

function commandLine(t: NativeToolchain): string {
  const out = t.outputFlag.endsWith(' ') ? `${t.outputFlag.trim()} ${t.output}` : `${t.outputFlag}${t.output}`;
  return [t.cc, ...t.flags, out, ENGINE_FILE, ...t.libs].join(' ');
}

export function renderBuildScripts(profile: Profile): RenderedFile[] {
  return profile.toolchains.map((t) => ({
    name: t.file,
    role: 'build-script' as const,
    content: lineEndings(render(`build/${t.script}.ejs`, { target: profile, toolchain: t, command: commandLine(t), source: ENGINE_FILE }), profile),
  }));
}

export interface ReadmeFacts {
  modelDescription: string;
  modelFile: string;
  modelBytes: number;
  quant: string;
  files: { name: string; bytes: number }[];
}

export function renderReadme(profile: Profile, facts: ReadmeFacts, name: string): RenderedFile {
  const run = profile.os.family === 'win32' ? `${profile.toolchains[0]?.output ?? 'retro.exe'} ${facts.modelFile}` : `./${profile.toolchains[0]?.output ?? 'retro'} ${facts.modelFile}`;
  return { name, role: 'readme', content: lineEndings(render('readme.txt.ejs', { target: profile, facts, run }), profile) };
}

/** File names the target can store: 8.3 (case-insensitive) or anything portable. */
export function checkFileName(name: string, profile: Profile): void {
  const ok = profile.os.fileNames === '8.3' ? /^[A-Za-z0-9_-]{1,8}(\.[A-Za-z0-9_-]{1,3})?$/.test(name) : /^[A-Za-z0-9._-]{1,64}$/.test(name);
  if (!ok) {
    throw new ProfileError(`target ${profile.id}: file name "${name}" breaks the ${profile.os.fileNames} file-name rule`, 'rename the toolchain output or script in the profile');
  }
}
