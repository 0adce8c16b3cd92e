/** The names of a bundle's files. */
export const MODEL_FILE = 'model.rtr';
export const MANIFEST_FILE = 'manifest.json';
export const ENGINE_FILE = 'retro.c';

/** The README for the person at the machine: 8.3 machines get a lower-case 8.3 name. */
export function readmeName(fileNames: 'posix' | '8.3'): string {
  return fileNames === '8.3' ? 'readme.txt' : 'README.txt';
}
