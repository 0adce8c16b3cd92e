/** Runs the built `retro` binary as a user would. */
import { execa } from 'execa';
import { join } from 'node:path';
import { REPO, TEST_CACHE } from './fixtures.js';

export const RETRO = join(REPO, 'bin', 'retro.js');

export async function retro(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = await execa('node', [RETRO, ...args], { reject: false, cwd: opts.cwd ?? REPO, env: { RETRO_CACHE: TEST_CACHE, ...opts.env }, encoding: 'buffer', stripFinalNewline: false });
  return { code: r.exitCode ?? -1, stdout: Buffer.from(r.stdout as Uint8Array), stderr: Buffer.from(r.stderr as Uint8Array).toString('utf8') };
}

/** The same, under GNU time: the exit code, stderr and the peak RSS (KB) of the whole run. */
export async function retroMeasured(args: string[], opts: { cwd?: string } = {}) {
  const r = await execa('/usr/bin/time', ['-q', '-f', 'retro-maxrss-kb=%M', 'node', RETRO, ...args], { reject: false, cwd: opts.cwd ?? REPO, encoding: 'utf8' });
  const rssKb = Number(/retro-maxrss-kb=(\d+)/.exec(r.stderr)?.[1]);
  return { code: r.exitCode ?? -1, stderr: r.stderr.replace(/retro-maxrss-kb=\d+\n?/, ''), rssKb };
}
