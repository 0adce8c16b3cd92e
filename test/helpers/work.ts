/** The work a step does, measured so that a loaded machine does not change it (unlike wall-clock time). */
import { readFileSync } from 'node:fs';

function readBytes(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
}

/** Runs `fn` (in this process) and returns the CPU time it took (ms) and the bytes it read (rchar, less this probe's own read). */
export function work(fn: () => void): { cpuMs: number; readBytes: number } {
  const probe = readBytes();
  const r0 = readBytes();
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, readBytes: readBytes() - r0 - (r0 - probe) };
}
