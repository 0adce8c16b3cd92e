/**
 * Profiles may come from anyone (`--target ./my-amiga.json`, `--targets DIR`), and their strings
 * are pasted into retro.c, Makefiles, .bat files and the README. Every such string must match a
 * strict pattern for its field, so nothing in a profile can end a C comment, add a make rule, run
 * a batch command or name a path outside the bundle; numbers must be in the range the engine
 * and the planner rely on. Checked once, when a profile is loaded.
 */
import { ProfileError } from '../errors.js';
import { printable } from '../files.js';
import type { Profile } from './schema.js';

interface Rule {
  pattern: RegExp;
  says: string;
}

/** Display text: one line, no comment or quote characters, nothing a shell, make or cmd.exe expands. */
const TEXT: Rule = { pattern: /^[A-Za-z0-9 .,()+/:_-]{1,100}$/, says: 'letters, digits, spaces and . , ( ) + / : _ - (at most 100)' };
/** A plain file name in the bundle: never a path, never hidden, never . or .. */
const FILE: Rule = { pattern: /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/, says: 'a plain file name: letters, digits, . _ - (no path, not starting with a dot)' };
/** A compiler command on the machine's PATH, or its absolute path. */
const COMMAND: Rule = { pattern: /^[A-Za-z0-9_.+/\\:-]{1,100}$/, says: 'a command name or path: letters, digits, . _ + / \\ : -' };
/** One compiler argument: no spaces, quotes, % or shell characters; make variables only as $(NAME). */
const FLAG: Rule = { pattern: /^(?:[A-Za-z0-9_.,=+:/\\-]|\$\([A-Z_][A-Z0-9_]*\))+$/, says: 'letters, digits, . , = + : / \\ _ - and $(NAME) make variables' };
/** How a compiler names its output: "-o ", "-e", "/Fe", "-fe=". */
const OUTPUT_FLAG: Rule = { pattern: /^[-/][A-Za-z]{1,4}=? ?$/, says: 'an output option such as "-o ", "-e", "/Fe" or "-fe="' };

function check(value: string, rule: Rule, field: string, where: string): void {
  if (!rule.pattern.test(value)) {
    throw new ProfileError(`${where}: field ${field}: "${printable(value, 40)}" is not allowed here: ${rule.says}`, 'fix the profile; these strings are written into the generated C, build scripts and README');
  }
}

function range(value: number, lo: number, hi: number, field: string, where: string): void {
  if (!(Number.isFinite(value) && value >= lo && value <= hi)) throw new ProfileError(`${where}: field ${field}: ${value} is not in ${lo}..${hi}`, 'fix the profile');
}

export function checkProfileSafety(p: Profile, where: string): Profile {
  check(p.name, TEXT, 'name', where);
  p.toolchains.forEach((t, i) => {
    const f = `toolchains.${i}`;
    check(t.id, TEXT, `${f}.id`, where);
    check(t.name, TEXT, `${f}.name`, where);
    check(t.file, FILE, `${f}.file`, where);
    check(t.output, FILE, `${f}.output`, where);
    check(t.cc, COMMAND, `${f}.cc`, where);
    check(t.outputFlag, OUTPUT_FLAG, `${f}.outputFlag`, where);
    t.flags.forEach((x, j) => check(x, FLAG, `${f}.flags.${j}`, where));
    t.libs.forEach((x, j) => check(x, FLAG, `${f}.libs.${j}`, where));
  });
  p.cross.forEach((b, i) => {
    check(b.id, FILE, `cross.${i}.id`, where);
    check(b.output, FILE, `cross.${i}.output`, where);
  });
  const names = [...p.toolchains.map((t) => t.file), ...p.toolchains.map((t) => t.output), ...p.cross.map((b) => b.output)];
  // A Makefile's output may share its name with a cross build's binary; a script may not clash with either.
  for (const t of p.toolchains) if (names.filter((n) => n.toLowerCase() === t.file.toLowerCase()).length > 1) throw new ProfileError(`${where}: build script ${t.file} is named twice`, 'give every build script its own file name');

  // 2^32 + 8 passes a 32-bit `n & (n - 1)` test: check the power of two on the real number.
  range(p.alignment, 8, 4096, 'alignment', where);
  if (!Number.isInteger(Math.log2(p.alignment))) throw new ProfileError(`${where}: field alignment: ${p.alignment} is not a power of two`, 'use 16 (SSE, AltiVec) or 128 (Xenon cache lines)');
  range(p.memory.ramMb, 1, 1 << 30, 'memory.ramMb', where);
  range(p.memory.addressSpaceMb, 1, 1 << 30, 'memory.addressSpaceMb', where);
  // The engine's default budget is what the OS leaves minus a few MB for code: it must stay positive.
  if (!(p.memory.ramMb - p.memory.osReservedMb >= 4)) {
    throw new ProfileError(`${where}: field memory.osReservedMb: ${p.memory.osReservedMb} MB leaves under 4 MB of the ${p.memory.ramMb} MB ramMb for retro`, 'lower osReservedMb below ramMb');
  }
  range(p.cpu.threads, 1, 1024, 'cpu.threads', where);
  range(p.cpu.cores, 1, 1024, 'cpu.cores', where);
  return p;
}
