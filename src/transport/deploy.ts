/**
 * Safe upload of a set of files: each goes to a temporary name derived from its content,
 * resumes from what an interrupted run left, is checked (sha256 where the remote can compute
 * it, else size) and only then renamed to its final name. Files already right are skipped.
 */
import { createReadStream } from 'node:fs';
import { TransportError } from '../errors.js';
import type { Transport } from './types.js';

export interface DeployFile {
  name: string;
  local: string;
  bytes: number;
  sha256: string;
  /** A program: marked executable on the remote. */
  executable?: boolean;
}

export type DeployEvent =
  | { kind: 'skip'; file: string; reason: string }
  | { kind: 'start'; file: string; bytes: number; resumeFrom: number }
  | { kind: 'progress'; file: string; done: number; bytes: number; overallDone: number; overallBytes: number; rate: number; etaSeconds: number }
  | { kind: 'done'; file: string; bytes: number; seconds: number; checked: 'sha256' | 'size' };

export interface DeployResult {
  uploaded: string[];
  skipped: string[];
  resumed: string[];
  bytesSent: number;
  seconds: number;
}

/** A temporary name that obeys the target's file-name rule and changes when the content does. */
export function tempName(f: DeployFile, rule: 'posix' | '8.3'): string {
  return rule === '8.3' ? `r${f.sha256.slice(0, 7)}.tmp` : `.${f.name}.${f.sha256.slice(0, 12)}.partial`;
}

export async function deployFiles(t: Transport, files: DeployFile[], remoteDir: string, rule: 'posix' | '8.3', onEvent: (e: DeployEvent) => void, now: () => number = () => performance.now()): Promise<DeployResult> {
  const started = now();
  const result: DeployResult = { uploaded: [], skipped: [], resumed: [], bytesSent: 0, seconds: 0 };
  const join = (n: string) => (remoteDir === '' || remoteDir === '.' ? n : `${remoteDir.replace(/\/$/, '')}/${n}`);
  await t.ensureDir(remoteDir);
  const overallBytes = files.reduce((n, f) => n + f.bytes, 0);
  let overallDone = 0;
  for (const f of files) {
    const final = join(f.name);
    const existing = await t.size(final);
    if (existing === f.bytes) {
      const h = await t.sha256(final);
      if (h === undefined || h === f.sha256) {
        if (f.executable) await t.chmod(final, 0o755);
        result.skipped.push(f.name);
        overallDone += f.bytes;
        onEvent({ kind: 'skip', file: f.name, reason: h ? 'already there (sha256 matches)' : 'already there (size matches)' });
        continue;
      }
    }
    const tmp = join(tempName(f, rule));
    let offset = (await t.size(tmp)) ?? 0;
    if (offset > f.bytes) {
      await t.remove(tmp);
      offset = 0;
    }
    if (offset > 0) result.resumed.push(f.name);
    onEvent({ kind: 'start', file: f.name, bytes: f.bytes, resumeFrom: offset });
    const t0 = now();
    let done = offset;
    overallDone += offset;
    if (offset < f.bytes) {
      await t.write(createReadStream(f.local, { start: offset }), tmp, offset, (n) => {
        done += n;
        overallDone += n;
        result.bytesSent += n;
        const elapsed = (now() - started) / 1000;
        const rate = elapsed > 0 ? result.bytesSent / elapsed : 0;
        onEvent({ kind: 'progress', file: f.name, done, bytes: f.bytes, overallDone, overallBytes, rate, etaSeconds: rate > 0 ? (overallBytes - overallDone) / rate : 0 });
      });
    }
    const size = await t.size(tmp);
    const hash = await t.sha256(tmp);
    if (size !== f.bytes || (hash !== undefined && hash !== f.sha256)) {
      await t.remove(tmp);
      throw new TransportError(
        `upload of ${f.name} did not verify (remote ${size ?? 'missing'} bytes${hash ? `, sha256 ${hash.slice(0, 12)}` : ''}; local ${f.bytes} bytes, sha256 ${f.sha256.slice(0, 12)})`,
        'run deploy again; if it repeats, check the transfer is in binary mode and the disk is not full',
      );
    }
    await t.rename(tmp, final);
    if (f.executable) await t.chmod(final, 0o755);
    result.uploaded.push(f.name);
    onEvent({ kind: 'done', file: f.name, bytes: f.bytes, seconds: (now() - t0) / 1000, checked: hash ? 'sha256' : 'size' });
  }
  result.seconds = (now() - started) / 1000;
  return result;
}
