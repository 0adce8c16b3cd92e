/**
 * Renders the C engine, the native build scripts and the bundle README from templates/. All
 * decisions are made here; templates only test profile fields and loop over the lists computed
 * below. Templates are found by folder: kernels/<simd>.c.ejs, os/<family>/ (shim.c.ejs, an
 * optional threads.c.ejs, os.json), build/<script>.ejs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ejs from 'ejs';
import { ProfileError } from '../errors.js';
import { ARCHITECTURES, declarationOrder, DIMS, layerMatrices, layerVectors, type Architecture, type Dim, type LayerTensor } from '../model/arch.js';
import { ENTRY_FIELDS, HEADER_FIELDS, NATIVE, TOKENIZER_KINDS } from '../model/format.js';
import { JOINT_KEYS } from '../reference/chat.js';
import { KV_CACHE_KINDS } from '../reference/model.js';
import { codePages } from './codepages.js';
import { PRE_TOKENIZERS } from '../reference/pretokenize.js';
import { codeReserveMb, usableMb, type NativeToolchain, type Profile } from '../profile/schema.js';
import { QUANT_KINDS, type QuantKindInfo } from '../quant/kinds.js';
import { TEMPLATES } from '../templates.js';
import { RETRO_VERSION } from '../version.js';
import { EXPF_CONSTANTS, EXPF_EXCEPTIONS, EXPF_TAB_HI, EXPF_TAB_LO } from '../reference/expf.js';
import { TANHF_CONSTANTS, TANHF_EXCEPTIONS, TANHF_TAB_HI, TANHF_TAB_LO } from '../reference/tanhf.js';

export const ENGINE_FILE = 'retro.c';

export interface RenderedFile {
  name: string;
  content: string;
  role: 'source' | 'build-script' | 'readme';
}

/** OS-family facts from templates/os/<family>/os.json. */
interface OsFacts {
  run: string;
  /** How a program is started where there is no command line (replaces the run line). */
  start?: string[];
  notes: string[];
  /** Engine options only this OS family's engine takes (letters added to the option check). */
  engineFlags?: string;
}

function osFacts(family: string): OsFacts {
  return JSON.parse(readFileSync(join(TEMPLATES, 'os', family, 'os.json'), 'utf8')) as OsFacts;
}

/**
 * Kernels are files: templates/kernels/<simd>.c.ejs. The scalar one is always there (the
 * reference order, and what -DRT_SCALAR builds); the first SIMD family the profile lists joins it
 * and takes over where the compiler supports it.
 */
export function selectKernels(profile: Profile): { simd: string; template: string }[] {
  const kernels = [{ simd: 'scalar', template: 'kernels/scalar.c.ejs' }];
  const simd = profile.cpu.simd[0];
  if (simd) kernels.push({ simd, template: `kernels/${simd}.c.ejs` });
  return kernels;
}

function render(template: string, data: Record<string, unknown>): string {
  return ejs.render(ejs.fileLoader(join(TEMPLATES, template)).toString(), data, { filename: join(TEMPLATES, template), views: [TEMPLATES], rmWhitespace: false });
}

export function lineEndings(text: string, profile: Profile): string {
  return profile.os.lineEndings === 'crlf' ? text.replace(/\r?\n/g, '\r\n') : text;
}

/** Memory defaults baked into the engine: the RAM budget (MB) and whether to stream the weights always. */
export interface MemoryDefaults {
  budgetMb: number;
  stream: boolean;
}

export function defaultMemory(profile: Profile): MemoryDefaults {
  return { budgetMb: usableMb(profile) - codeReserveMb, stream: false };
}

/** The OS family's own threads backend where the machine has more than one hardware thread, else serial. */
export function threadsBackend(profile: Profile, osFamily: string): string {
  const own = `os/${osFamily}/threads.c.ejs`;
  return profile.cpu.threads > 1 && existsSync(join(TEMPLATES, own)) ? own : 'shared/threads-serial.c.ejs';
}

/**
 * Where an OS family adds to the engine: templates/os/<family>/hooks/<hook>.c.ejs, included at the
 * place its name says (code pages and console input on Windows); a family without the file adds nothing.
 */
export const OS_HOOKS = ['codepages', 'emit_char', 'chat_input', 'usage', 'main_locals', 'main_option', 'main_args', 'main_free'] as const;

function osHooks(family: string): Record<(typeof OS_HOOKS)[number], string | null> {
  const file = (hook: string) => `os/${family}/hooks/${hook}.c.ejs`;
  return Object.fromEntries(OS_HOOKS.map((h) => [h, existsSync(join(TEMPLATES, file(h))) ? file(h) : null])) as Record<(typeof OS_HOOKS)[number], string | null>;
}

/** The model.rtr description as the C template's named constants. */
function formatConstants() {
  return {
    version: NATIVE.version,
    headerBytes: NATIVE.headerBytes,
    entryBytes: NATIVE.entryBytes,
    marker: `0x${NATIVE.marker.toString(16).padStart(8, '0')}`,
    fields: [...HEADER_FIELDS, ...ENTRY_FIELDS].map((f) => ({ macro: f.macro, offset: f.offset })),
    kinds: QUANT_KINDS.map((k) => ({ macro: `RT_${k.name.toUpperCase()}`, code: k.code })),
    kvCacheKinds: KV_CACHE_KINDS.map((k, code) => ({ macro: `RT_KV_${k.toUpperCase()}`, code })),
    tokenizerKinds: TOKENIZER_KINDS.map((k, code) => ({ macro: `RT_TOK_${k.replace('-', '_').toUpperCase()}`, code })),
    preTokenizers: PRE_TOKENIZERS.map((p, i) => ({ macro: `RT_PRE_${p.toUpperCase()}`, code: i + 1 })),
    chatJoints: JOINT_KEYS.map((k) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()),
  };
}

const kindMacro = (k: QuantKindInfo) => `RT_${k.name.toUpperCase()}`;

/** "a, b and c" */
function listed(items: string[], last: 'and' | 'or'): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} ${last} ${items[items.length - 1]}`;
}

/** A C expression per kind: the first kind's, unless `kindVar` names a kind whose expression differs. */
function byKind(kindVar: string, kinds: readonly QuantKindInfo[], expr: (k: QuantKindInfo) => string): string {
  const base = expr(kinds[0]);
  return kinds.filter((k) => expr(k) !== base).reduceRight((rest, k) => `${kindVar} == ${kindMacro(k)} ? ${expr(k)} : ${rest}`, base);
}

/** A C expression for the bytes of `n` stored values of a kind (values below 8 bits share bytes). */
function packedBytesC(k: QuantKindInfo, n: string): string {
  const { bits } = k.layout;
  if (bits < 8) return `(${n} + ${8 / bits - 1}) / ${8 / bits}`;
  return bits === 8 ? n : `${n} * ${bits / 8}`;
}

/**
 * The quantization kinds as the C template names them: its checks, comments, kernel table and
 * dispatch, all from the rows of quant/kinds.ts (the template only prints these).
 */
export function quantKindsC(kinds: readonly QuantKindInfo[] = QUANT_KINDS) {
  const grouped = kinds.filter((k) => k.layout.scales === 'per-group');
  const quantized = kinds.filter((k) => k.activation === 'q8');
  const padded = '(cols + group_size - 1) / group_size * group_size';
  return {
    last: kindMacro(kinds[kinds.length - 1]),
    codes: listed(kinds.map((k) => `${k.code} (${k.name})`), 'or'),
    macros: listed(kinds.map(kindMacro), 'or'),
    grouped: { and: listed(grouped.map((k) => k.name), 'and'), or: listed(grouped.map((k) => k.name), 'or'), macros: grouped.map(kindMacro).join(', '), macrosOr: listed(grouped.map(kindMacro), 'or') },
    /** Each kind's kernel: its function pointer, the SIMD file's macro that overrides the scalar one, its signature by activation. */
    kernels: kinds.map((k) => ({ name: k.kernel, simd: `RT_SIMD_${k.kernel.toUpperCase()}`, type: `Matmul${k.activation.toUpperCase()}` })),
    /** matmul_part's calls for the kinds that quantize x, as if / else if / else. */
    dispatch: quantized.map((k, i) => `${i > 0 ? 'else ' : ''}${i < quantized.length - 1 ? `if (w->kind == ${kindMacro(k)}) ` : ''}${k.kernel}`),
    rowBytes: byKind('m->kind', grouped, (k) => packedBytesC(k, 'n')),
    /** next_entry's data bytes: `stored` is 4 bytes a value for float kinds, 1 a padded value otherwise. */
    dataBytes: byKind('kind', kinds, (k) => (k.layout.scales === 'none' || k.layout.bits === 8 ? 'stored' : `(double)rows * (double)(${packedBytesC(k, padded)})`)),
    valueAt: byKind('kind', grouped, (k) => (k.layout.bits === 8 ? 'row[j]' : `${k.name}_at(row, j)`)),
    rowDoc: grouped.map((k) => `${kindMacro(k)}: (rows, ${k.rowBytesDoc})${k.packing ? `, ${k.packing}` : ''}`).join('; '),
  };
}

export interface EngineOptions {
  /** The platform shim for a stand-in build (default: the profile's OS). */
  osFamily?: string;
  memory?: MemoryDefaults;
  /** The model family the engine runs (default llama): its layer's tensors and extra steps. */
  arch?: Architecture;
}

const WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen'];

/**
 * A family's row as the C template's lists: the layer's struct fields (run.c's order), its
 * vectors and matrices (file order) with the C expressions of their shapes, where streaming splits
 * a layer, and the steps forward adds for the family.
 */
export function archData(a: Architecture) {
  const shape = (x: LayerTensor) => (x.matrix ? `n_layers x (${DIMS[x.rows as Dim].doc}, ${DIMS[x.cols].doc})` : `(n_layers, ${DIMS[x.cols].doc})`);
  const matrices = layerMatrices(a);
  const attention = matrices.filter((x) => x.half === 'attention').length;
  const has = (n: string) => a.layer.some((x) => x.name === n);
  return {
    name: a.name,
    code: a.code,
    fields: declarationOrder(a).map((x) => ({ decl: (x.matrix ? `Matrix *${x.c};` : `float *${x.c};`).padEnd(30), doc: `${shape(x)}${x.matrix || x.name.startsWith('rms') ? '' : ` ${x.doc}`}` })),
    tensors: a.layer.map((x) => ({ name: x.name, c: x.c, matrix: x.matrix, rows: x.matrix ? DIMS[x.rows as Dim].c : '1', cols: DIMS[x.cols].c, what: x.name.startsWith('rms') ? 'rms' : 'layer vectors' })),
    vectors: layerVectors(a).map((x) => ({ name: x.name, c: x.c, cols: DIMS[x.cols].c, what: x.name.startsWith('rms') ? 'rms' : 'layer vectors' })),
    matrices: matrices.map((x) => x.c),
    matricesWord: WORDS[matrices.length],
    attentionMatrices: attention,
    ffnMatrices: matrices.length - attention,
    span: { first: matrices[0].c, attentionLast: matrices[attention - 1].c, ffnFirst: matrices[attention].c, last: matrices[matrices.length - 1].c },
    steps: { bias: has('bq'), qkNorm: has('q_norm'), noRopeEvery: a.noRopeEvery },
  };
}

export function renderEngine(profile: Profile, options: EngineOptions = {}): string {
  const osFamily = options.osFamily ?? profile.os.family;
  const memory = options.memory ?? defaultMemory(profile);
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
    retroVersion: RETRO_VERSION,
    binaryName: primary,
    format: formatConstants(),
    quant: quantKindsC(),
    maxAllocBytes: Math.min(profile.memory.addressSpaceMb, 2048) * 1024 * 1024 - 1,
    shim: `os/${osFamily}/shim.c.ejs`,
    os: { hooks: osHooks(osFamily), flags: osFacts(osFamily).engineFlags ?? '' },
    threads,
    fpu: `fpu/${profile.cpu.fpuControl ?? 'none'}.c.ejs`,
    defaultThreads: threads.startsWith('shared/') ? 1 : profile.cpu.threads,
    memory: { budgetMb: String(memory.budgetMb), stream: memory.stream },
    kernels: selectKernels(profile).map((k) => k.template),
    expf: expfData(),
    tanhf: tanhfData(),
    arch: archData(options.arch ?? ARCHITECTURES[0]),
    codePages: codePages().map((cp) => ({ id: cp.id, name: cp.name, cells: cp.high.map((c) => `0x${c.toString(16).padStart(4, '0')}`).join(', ') })),
  });
}

/** How the person at the machine starts a program there. */
export function runCommand(profile: Profile, program: string): string {
  return osFacts(profile.os.family).run.replace('{program}', program);
}

const hex = (bits: number) => `0x${bits.toString(16).padStart(8, '0')}UL`;

/** A float32 routine's constants, tables and exceptions (bit patterns) as C initializer rows. */
interface MathTables {
  constants: [string, string][];
  tabHi: string[];
  tabLo: string[];
  exceptions: string[];
}

function mathTables(constants: Record<string, number>, tabHi: readonly number[], tabLo: readonly number[], exceptions: readonly (readonly [number, number])[]): MathTables {
  const rows = (t: readonly number[]) => Array.from({ length: t.length / 8 }, (_, i) => t.slice(i * 8, i * 8 + 8).map((b) => `{${hex(b)}},`).join(' '));
  return {
    constants: Object.entries(constants).map(([name, bits]) => [name, `0x${bits.toString(16).padStart(8, '0')}`]),
    tabHi: rows(tabHi),
    tabLo: rows(tabLo),
    exceptions: exceptions.map(([x, y]) => `{{${hex(x)}}, {${hex(y)}}},`),
  };
}

/** The reference's exp tables as C initializer rows (templates/expf.c.ejs). */
export function expfData(): MathTables {
  return mathTables(EXPF_CONSTANTS, EXPF_TAB_HI, EXPF_TAB_LO, EXPF_EXCEPTIONS);
}

/** The reference's tanh tables as C initializer rows (templates/tanhf.c.ejs, which the engine includes where a model's FFN uses GELU). */
export function tanhfData(): MathTables {
  return mathTables(TANHF_CONSTANTS, TANHF_TAB_HI, TANHF_TAB_LO, TANHF_EXCEPTIONS);
}

/** retro's exp alone, for the exhaustive check (test/reference/expf.test.ts); the engine includes the same template. */
export function renderExpf(): string {
  return render('expf.c.ejs', { expf: expfData() });
}

/** retro's tanh and GELU after the exp whose constants they use, for their checks (test/reference/tanhf.test.ts). */
export function renderTanhf(): string {
  return renderExpf() + render('tanhf.c.ejs', { tanhf: tanhfData() });
}

/** The lines that tell the person at the machine how to start the engine on the model. */
function startLines(profile: Profile, program: string, model: string): string[] {
  const start = osFacts(profile.os.family).start;
  if (start) return start.map((l) => l.replace(/\{program\}/g, program).replace(/\{model\}/g, model));
  const run = `${runCommand(profile, program)} ${model} -t 0`;
  const trace = profile.os.fileNames === '8.3' ? 'TRACE.TXT' : 'trace.txt';
  return [`${run} -n 256 -i "Once upon a time"`, `to check it with retro verify, write a trace and bring ${trace} back (retro fetch):`, `${run} -n 64 -i "Once upon a time" -T ${trace}`];
}

function commandLine(t: NativeToolchain): string {
  const out = t.outputFlag.endsWith(' ') ? `${t.outputFlag.trim()} ${t.output}` : `${t.outputFlag}${t.output}`;
  return [t.cc, ...t.flags, out, ENGINE_FILE, ...t.libs].join(' ');
}

export function renderBuildScripts(profile: Profile, modelFile: string): RenderedFile[] {
  return profile.toolchains.map((t) => ({
    name: t.file,
    role: 'build-script' as const,
    content: lineEndings(render(`build/${t.script}.ejs`, { target: profile, toolchain: t, command: commandLine(t), source: ENGINE_FILE, start: startLines(profile, t.output, modelFile) }), profile),
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
  const start = startLines(profile, profile.toolchains[0]?.output ?? 'retro', facts.modelFile);
  return { name, role: 'readme', content: lineEndings(render('readme.txt.ejs', { target: profile, facts, start, notes: osFacts(profile.os.family).notes }), profile) };
}

/** File names the target can store: 8.3 (case-insensitive) or anything portable. */
export function checkFileName(name: string, profile: Profile): void {
  const ok = profile.os.fileNames === '8.3' ? /^[A-Za-z0-9_-]{1,8}(\.[A-Za-z0-9_-]{1,3})?$/.test(name) : /^[A-Za-z0-9._-]{1,64}$/.test(name);
  if (!ok) {
    throw new ProfileError(`target ${profile.id}: file name "${name}" breaks the ${profile.os.fileNames} file-name rule`, 'rename the toolchain output or script in the profile');
  }
}
