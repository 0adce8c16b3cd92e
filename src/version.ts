/** retro's version, from package.json: written into generated files and manifests, printed by --version. */
import { readFileSync } from 'node:fs';

export const RETRO_VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
