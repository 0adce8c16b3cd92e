/**
 * The templates folder and what it offers. Kernels, OS families and build scripts are found by
 * file name, so adding one is adding its file; profiles are checked against this catalog.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPLATES = resolve(dirname(fileURLToPath(import.meta.url)), '../templates');

const namesIn = (dir: string, suffix: string) =>
  readdirSync(join(TEMPLATES, dir))
    .filter((f) => f.endsWith(suffix))
    .map((f) => f.slice(0, -suffix.length))
    .sort();

export interface TemplateCatalog {
  /** SIMD families with a kernel file (templates/kernels/<simd>.c.ejs; scalar is always there). */
  simd: string[];
  /** OS families with a folder (templates/os/<family>/shim.c.ejs). */
  osFamilies: string[];
  /** Native build scripts (templates/build/<script>.ejs). */
  buildScripts: string[];
  /** FPU precision controls (templates/fpu/<name>.c.ejs; none is the default). */
  fpuControls: string[];
}

export function templateCatalog(): TemplateCatalog {
  return {
    simd: namesIn('kernels', '.c.ejs').filter((k) => k !== 'scalar'),
    osFamilies: readdirSync(join(TEMPLATES, 'os'))
      .filter((d) => existsSync(join(TEMPLATES, 'os', d, 'shim.c.ejs')))
      .sort(),
    buildScripts: namesIn('build', '.ejs'),
    fpuControls: namesIn('fpu', '.c.ejs').filter((f) => f !== 'none'),
  };
}
