/** Paths to the shared model fixtures. Missing fixtures fail the suite: they are never skipped. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MODELS = process.env.RETRO_MODELS ?? resolve(REPO, '../shared/models');

export function model(name: string): string {
  const p = join(MODELS, name);
  if (!existsSync(p)) throw new Error(`fixture ${p} is missing: tests need ../shared/models (or RETRO_MODELS)`);
  return p;
}

export function golden(name: string): Buffer {
  return readFileSync(model(join('golden', name)));
}

/** State kept between test runs, as retro keeps it in ~/.cache/retro: wine's prefix is made once, not per test. */
export const TEST_CACHE = join(tmpdir(), 'retro-test-cache');

export function tempDir(prefix = 'retro-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const ONCE = 'Once upon a time';
