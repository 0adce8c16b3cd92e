/**
 * Writes what retro calibrate measured into the user's own profile file: estimate.measured.<kind>,
 * nothing else changed. Never into retro's built-in profiles; written to a temporary file, loaded
 * and checked as a profile, then renamed over the old one, so a failure leaves the old file whole.
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { QuantKind } from '../quant/kinds.js';
import { isBuiltinProfile, isObject, loadProfileFile, readJson } from './load.js';
import type { Profile } from './schema.js';

export interface MeasuredSpeed {
  cyclesPerMac: number;
  how: string;
}

type Json = Record<string, unknown>;

/**
 * `file`: the profile to update, or to create extending `base` (the built-in profile's id, or
 * the path of the user's profile it extends) when it does not exist yet. Returns the profile as
 * loaded from the written file.
 */
export function recordMeasured(file: string, base: { id: string; file: string }, quant: QuantKind, speed: MeasuredSpeed): Profile {
  const path = resolve(file);
  if (isBuiltinProfile(path)) {
    throw new UsageError(`${path}: a built-in profile; retro calibrate writes only your own profiles`, `pass --profile ./my-${base.id}.json: it is created extending ${base.id}, and --target ./my-${base.id}.json then uses it`);
  }
  let raw: Json;
  if (existsSync(path)) {
    raw = readJson(path);
  } else {
    // A built-in base by its id; a user's profile by its path, which a profile given as a path may extend.
    const rel = relative(dirname(path), base.file).replace(/\\/g, '/').replace(/\.json$/, '');
    const ext = isBuiltinProfile(base.file) ? base.id : rel.startsWith('.') ? rel : `./${rel}`;
    raw = { $comment: `${base.id} with the speed retro calibrate measured on the machine`, extends: ext };
  }
  const estimate = isObject(raw.estimate) ? raw.estimate : {};
  const measured = isObject(estimate.measured) ? estimate.measured : {};
  raw.estimate = { ...estimate, measured: { ...measured, [quant]: speed } };
  const partial = join(dirname(path), `.${basename(path)}.partial`);
  try {
    writeFileSync(partial, `${JSON.stringify(raw, null, 2)}\n`);
    const profile = loadProfileFile(partial, true);
    renameSync(partial, path);
    return profile;
  } finally {
    rmSync(partial, { force: true });
  }
}
