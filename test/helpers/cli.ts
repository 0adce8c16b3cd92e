/** Runs the built `retro` binary as a user would. */
import { execa } from 'execa';
import { join } from 'node:path';
import { REPO, TEST_CACHE } from './fixtures.js';

export const RETRO = join(REPO, 'bin', 'retro.js');

export async function retro(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = await execa('node', [RETRO, ...args], { reject: false, cwd: opts.cwd ?? REPO, env: { RETRO_CACHE: TEST_CACHE, ...opts.env }, encoding: 'buffer', stripFinalNewline: false });
  return { code: r.exitCode ?? -1, stdout: Buffer.from(r.stdout as Uint8Array), stderr: Buffer.from(r.stderr as Uint8Array).toString('utf8') };
}

/**
 * The same, under GNU time: the exit code, stderr, and the work of the whole run, which a loaded machine
 * does not change: peak RSS (KB), CPU time (ms) and the bytes it read (rchar: a shell's /proc/$$/io counts
 * the children it has reaped; node alone reads about 5 MB starting up).
 */
export async function retroMeasured(args: string[], opts: { cwd?: string } = {}) {
  const script = '"$@"; s=$?; grep "^rchar" /proc/$$/io >&2; exit $s';
  const r = await execa('sh', ['-c', script, 'sh', '/usr/bin/time', '-q', '-f', 'retro-work=%M %U %S', 'node', RETRO, ...args], { reject: false, cwd: opts.cwd ?? REPO, encoding: 'utf8' });
  const [rssKb, user, sys] = (/retro-work=(\d+) ([\d.]+) ([\d.]+)/.exec(r.stderr) ?? []).slice(1).map(Number);
  const readBytes = Number(/^rchar: (\d+)$/m.exec(r.stderr)?.[1]);
  return { code: r.exitCode ?? -1, stderr: r.stderr.replace(/retro-work=.*\n?/, '').replace(/^rchar: \d+\n?/m, ''), rssKb, cpuMs: Math.round((user + sys) * 1000), readBytes };
}
