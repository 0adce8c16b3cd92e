/** Runs the built `retro` binary as a user would. */
import { execa } from 'execa';
import { join } from 'node:path';
import { REPO } from './fixtures.js';

export const RETRO = join(REPO, 'bin', 'retro.js');

export async function retro(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = await execa('node', [RETRO, ...args], { reject: false, cwd: opts.cwd ?? REPO, env: opts.env, encoding: 'buffer', stripFinalNewline: false });
  return { code: r.exitCode ?? -1, stdout: Buffer.from(r.stdout as Uint8Array), stderr: Buffer.from(r.stderr as Uint8Array).toString('utf8') };
}
