/** The names of a bundle's files. */
import { basename, dirname, join } from 'node:path';

export const MODEL_FILE = 'model.rtr';
export const MANIFEST_FILE = 'manifest.json';
export const ENGINE_FILE = 'retro.c';

/** The README for the person at the machine: 8.3 machines get a lower-case 8.3 name. */
export function readmeName(fileNames: 'posix' | '8.3'): string {
  return fileNames === '8.3' ? 'readme.txt' : 'README.txt';
}

/**
 * Where traces from the machine are kept: beside the bundle (`dist/host.traces/`), not in it, so a
 * rebuild (which replaces only what retro made) neither refuses the folder nor deletes them.
 */
export function tracesDir(bundle: string): string {
  return join(dirname(bundle), `${basename(bundle)}.traces`);
}
