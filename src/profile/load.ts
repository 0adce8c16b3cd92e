/**
 * Loads target profiles: built-in ones from targets/, a user's file, or a
 * user's folder of profiles. `extends` merges a base profile (objects merge,
 * arrays and values replace). Every profile is validated before use.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProfileError } from '../errors.js';
import { printable, readJsonFile } from '../files.js';
import { templateCatalog } from '../templates.js';
import { checkProfileSafety } from './safety.js';
import { profileSchema, type Profile } from './schema.js';

export const BUILTIN_TARGETS = resolve(dirname(fileURLToPath(import.meta.url)), '../../targets');

type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(base[k]) ? merge(base[k] as Json, v) : v;
  return out;
}

/** Profiles are small: the largest built-in one is 10 KB. */
const MAX_PROFILE_BYTES = 1 << 20;

/** A profile file's own JSON, before `extends` is merged. */
export function readJson(path: string): Json {
  const data = readJsonFile(path, MAX_PROFILE_BYTES, 'profile', (message, hint) => new ProfileError(message, hint));
  if (!isObject(data)) throw new ProfileError(`${path}: a profile must be a JSON object`, 'see targets/powerbook-g4.json for an example');
  return data;
}

/** `extends` names a profile ("base-powerpc") or, in a profile given as a path, a path ("../x"). */
function isPath(ext: string): boolean {
  return /[\\/]/.test(ext) || ext.startsWith('.') || isAbsolute(ext);
}

/**
 * `pathsAllowed`: the profile was given as a path (--target ./my.json), so it may extend by path;
 * a profile found by name (built-in or in --targets DIR) extends only names, so it cannot reach
 * a file outside its folder.
 */
function resolveRaw(path: string, seen: string[], pathsAllowed: boolean): Json {
  if (seen.includes(path)) throw new ProfileError(`${path}: extends itself through ${seen.map((s) => basename(s)).join(' -> ')}`, 'remove the cycle in "extends"');
  const raw = readJson(path);
  const ext = raw.extends;
  delete raw.extends;
  delete raw.$comment;
  if (ext === undefined) return raw;
  if (typeof ext !== 'string') throw new ProfileError(`${path}: field extends: expected a profile name, got ${printable(JSON.stringify(ext) ?? String(ext), 80)}`, 'name the base profile, e.g. "base-powerpc"');
  if (isPath(ext) && !pathsAllowed) {
    throw new ProfileError(
      `${path}: field extends: "${printable(ext, 80)}" is a path, and a profile found by name extends only profile names (paths are allowed only in a profile given as a path, --target ./my-machine.json)`,
      'name a profile of the same folder or a built-in one, e.g. "base-powerpc", or pass this profile as a path with --target',
    );
  }
  const candidates = [join(dirname(path), `${ext}.json`), ...(isPath(ext) ? [] : [join(BUILTIN_TARGETS, `${ext}.json`)])];
  const basePath = candidates.find((p) => existsSync(p));
  if (!basePath) throw new ProfileError(`${path}: extends unknown profile "${printable(ext, 80)}"`, `create ${printable(candidates[0], 120)} or use a built-in base`);
  // Being a base is not inherited.
  const base = resolveRaw(basePath, [...seen, path], pathsAllowed);
  delete base.abstract;
  return merge(base, raw);
}

/** Names a profile gives templates (SIMD kernels, OS families, build scripts) must exist there. */
function checkTemplateNames(p: Profile, path: string): void {
  const known = templateCatalog();
  const refuse = (field: string, value: string, list: string[], what: string, file: string) =>
    new ProfileError(`${path}: field ${field}: unknown ${what} "${printable(value, 80)}"; known: ${list.join(', ')}`, `use one of those, or add ${printable(file, 120)}`);
  p.cpu.simd.forEach((s, i) => {
    if (!known.simd.includes(s)) throw refuse(`cpu.simd.${i}`, s, known.simd, 'SIMD family', `templates/kernels/${s}.c.ejs`);
  });
  const families = [['os.family', p.os.family], ...p.cross.map((c, i) => [`cross.${i}.osFamily`, c.osFamily])];
  for (const [field, family] of families) {
    if (family !== undefined && !known.osFamilies.includes(family)) throw refuse(field!, family, known.osFamilies, 'OS family', `templates/os/${family}/shim.c.ejs`);
  }
  const fpu = p.cpu.fpuControl;
  if (fpu !== undefined && !known.fpuControls.includes(fpu)) throw refuse('cpu.fpuControl', fpu, known.fpuControls, 'FPU precision control', `templates/fpu/${fpu}.c.ejs`);
  p.toolchains.forEach((t, i) => {
    if (!known.buildScripts.includes(t.script)) throw refuse(`toolchains.${i}.script`, t.script, known.buildScripts, 'build script', `templates/build/${t.script}.ejs`);
  });
}

/** The ramMb of a profile for the computer retro itself runs on. */
export const THIS_MACHINE = 'this-machine';

export function loadProfileFile(path: string, givenAsPath = false): Profile {
  const raw = resolveRaw(resolve(path), [], givenAsPath);
  // A base holds only what its machines share; it is checked in full once a machine extends it.
  if (raw.abstract === true) return raw as unknown as Profile;
  // "ramMb": "this-machine" (the host profile): the RAM of the computer retro runs on, read now.
  const memory = raw.memory as Json | undefined;
  if (memory?.ramMb === THIS_MACHINE) memory.ramMb = Math.floor(totalmem() / 1048576);
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || '(top level)';
    throw new ProfileError(`${path}: field ${printable(field, 80)}: ${printable(issue.message)}`, 'fix the profile; see targets/powerbook-g4.json for every field');
  }
  checkTemplateNames(parsed.data, path);
  return checkProfileSafety(parsed.data, path);
}

function profilesIn(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.json')) out.set(f.slice(0, -5), join(dir, f));
  return out;
}

/** All concrete (non-abstract) profiles: the user's folder first, then built-ins. */
export function listProfiles(userDir?: string): Profile[] {
  const files = new Map([...profilesIn(BUILTIN_TARGETS), ...(userDir ? profilesIn(userDir) : [])]);
  return [...files.values()].map((f) => loadProfileFile(f)).filter((p) => !p.abstract);
}

const givenAsPath = (target: string) => target.endsWith('.json') || target.includes('/');

/** The file `--target` names: a path to a profile file, or the file of an id in the user's folder or among the built-ins. */
export function profileFile(target: string, userDir?: string): string {
  if (givenAsPath(target)) {
    if (!existsSync(target) || !statSync(target).isFile()) throw new ProfileError(`${target}: profile file not found`, 'check the path given to --target');
    return resolve(target);
  }
  const files = new Map([...profilesIn(BUILTIN_TARGETS), ...(userDir ? profilesIn(userDir) : [])]);
  const path = files.get(target);
  if (!path) {
    const known = listProfiles(userDir).map((p) => p.id);
    throw new ProfileError(`unknown target "${target}"; known targets: ${known.join(', ')}`, 'pick one of those, or pass a profile file with --target ./my-machine.json');
  }
  return path;
}

/** A file among retro's own profiles (targets/), which retro never writes. */
export function isBuiltinProfile(path: string): boolean {
  return dirname(resolve(path)) === BUILTIN_TARGETS;
}

/** `--target` is a built-in id, an id in the user's folder, or a path to a profile file. */
export function loadProfile(target: string, userDir?: string): Profile {
  const path = profileFile(target, userDir);
  return checkConcrete(loadProfileFile(path, givenAsPath(target)), givenAsPath(target) ? target : path);
}

function checkConcrete(p: Profile, path: string): Profile {
  if (p.abstract) throw new ProfileError(`${path}: "${p.id}" is a base profile, not a machine`, 'pick a target that extends it');
  return p;
}
