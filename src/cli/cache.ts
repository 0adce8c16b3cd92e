import { homedir } from 'node:os';
import { join } from 'node:path';

/** retro's folder for state kept between runs: RETRO_CACHE, else $XDG_CACHE_HOME/retro, else ~/.cache/retro. */
export function cacheDir(): string {
  return process.env.RETRO_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'retro');
}
