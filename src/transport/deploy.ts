/**
 * Safe upload of a set of files: each goes to a temporary name derived from its content,
 * resumes from what an interrupted run left once those bytes are proven to be a prefix of the
 * file, is checked by content (a digest the remote computes, else its bytes read back) and only
 * then renamed to its final name. Files whose content is already right are skipped.
 */
import { createReadStream } from 'node:fs';
import { TransportError } from '../errors.js';
import { hasher, localDigest, sameDigest, STRONG } from './digest.js';
import { DataRefused } from './errors.js';
import type { Transport } from './types.js';

export interface DeployFile {
  name: string;
  local: string;
  bytes: number;
  sha256: string;
  /** A program: marked executable on the remote. */
  executable?: boolean;
}

/**
 * How content is checked: `content` (the default) by the remote's digest, else by reading the
 * bytes back; `checksum` the same but never trusting a CRC alone; `size-only` by size, an opt-out.
 */
export type CheckMode = 'content' | 'checksum' | 'size-only';

export interface DeployOptions {
  check?: CheckMode;
  /** Resend every file, whatever is on the machine. */
  force?: boolean;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
}

export type DeployEvent =
  | { kind: 'skip'; file: string; reason: string }
  | { kind: 'note'; file: string; message: string }
  | { kind: 'plan'; file: string; action: 'send' | 'resume' | 'skip' | 'check'; detail: string }
  | { kind: 'start'; file: string; bytes: number; resumeFrom: number }
  | { kind: 'progress'; file: string; done: number; bytes: number; overallDone: number; overallBytes: number; rate: number; etaSeconds: number }
  /** After the bytes are sent (or before a skip): the content is being checked, which can take as long as the upload. */
  | { kind: 'checking'; file: string; how: 'digest' | 'read-back'; done: number; bytes: number }
  | { kind: 'done'; file: string; bytes: number; seconds: number; checked: string };

export interface DeployResult {
  uploaded: string[];
  skipped: string[];
  resumed: string[];
  /** Files whose remote copy had other bytes and was replaced. */
  replaced: string[];
  bytesSent: number;
  /** Bytes downloaded to check content where the remote offers no digest. */
  bytesReadBack: number;
  seconds: number;
  check: CheckMode;
  dryRun: boolean;
}

/** A temporary name that obeys the target's file-name rule and changes when the content does. */
export function tempName(f: DeployFile, rule: 'posix' | '8.3'): string {
  return rule === '8.3' ? `r${f.sha256.slice(0, 7)}.tmp` : `.${f.name}.${f.sha256.slice(0, 12)}.partial`;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/** The outcome of comparing a remote file with the local file's first `length` bytes. */
interface Comparison {
  same: boolean;
  /** How it was checked, for the output: "sha256 checked", "read back 1.2 MB in 0.3s, sha256 compared". */
  how: string;
}

export async function deployFiles(t: Transport, files: DeployFile[], remoteDir: string, rule: 'posix' | '8.3', onEvent: (e: DeployEvent) => void, opts: DeployOptions = {}, now: () => number = () => performance.now()): Promise<DeployResult> {
  const check = opts.check ?? 'content';
  const started = now();
  const result: DeployResult = { uploaded: [], skipped: [], resumed: [], replaced: [], bytesSent: 0, bytesReadBack: 0, seconds: 0, check, dryRun: opts.dryRun === true };
  const join = (n: string) => (remoteDir === '' || remoteDir === '.' ? n : `${remoteDir.replace(/\/$/, '')}/${n}`);

  /** Reads the remote file back and digests it here: the check of last resort, and its cost is said. */
  const readBack = async (path: string, f: DeployFile, length: number, why: string): Promise<Comparison> => {
    const t0 = now();
    const h = hasher('sha256');
    let done = 0;
    onEvent({ kind: 'checking', file: f.name, how: 'read-back', done, bytes: length });
    await t.download(path, (chunk) => {
      h.update(chunk);
      done += chunk.length;
      onEvent({ kind: 'checking', file: f.name, how: 'read-back', done, bytes: length });
    });
    result.bytesReadBack += length;
    const same = sameDigest(h.hex(), await localDigest(f.local, 'sha256', length));
    return { same, how: `read back ${mb(length)} in ${((now() - t0) / 1000).toFixed(1)}s (${why}), sha256 compared` };
  };

  /** Is the remote file the local file's first `length` bytes? By digest where the remote has one. */
  const compare = async (path: string, f: DeployFile, length: number, canReadBack: boolean): Promise<Comparison | undefined> => {
    // A dry run only asks; a real one may wait seconds for a digest of a large file.
    if (canReadBack) onEvent({ kind: 'checking', file: f.name, how: 'digest', done: 0, bytes: length });
    const d = await t.digest(path);
    if (d && (check !== 'checksum' || STRONG.has(d.algo))) {
      const local = length === f.bytes && d.algo === 'sha256' ? f.sha256 : await localDigest(f.local, d.algo, length);
      return { same: sameDigest(d.hex, local), how: `${d.algo} checked${STRONG.has(d.algo) ? '' : ' (a CRC: --checksum reads back instead)'}` };
    }
    return canReadBack ? readBack(path, f, length, d ? `the machine offers only ${d.algo}; --checksum` : 'no digest command on the machine') : undefined;
  };

  if (!opts.dryRun) await t.ensureDir(remoteDir);
  const overallBytes = files.reduce((n, f) => n + f.bytes, 0);
  let overallDone = 0;
  for (const f of files) {
    const final = join(f.name);
    const existing = await t.size(final);
    let stale = false;
    if (existing === f.bytes && !opts.force) {
      if (check === 'size-only') {
        await skip(f, 'already there (size matches; content not checked: --size-only)');
        continue;
      }
      const c = await compare(final, f, f.bytes, !opts.dryRun);
      if (c === undefined) {
        onEvent({ kind: 'plan', file: f.name, action: 'check', detail: `same size; would read back ${mb(f.bytes)} to compare content` });
        continue;
      }
      if (c.same) {
        await skip(f, `already there (${c.how})`);
        continue;
      }
      stale = true;
      onEvent({ kind: 'note', file: f.name, message: `the machine holds other bytes of the same size (${c.how}); replacing it` });
    }

    const tmp = join(tempName(f, rule));
    let offset = opts.force ? 0 : ((await t.size(tmp)) ?? 0);
    if (offset > f.bytes) offset = 0;
    if (offset > 0) {
      const c = await compare(tmp, f, offset, !opts.dryRun);
      if (c === undefined) {
        onEvent({ kind: 'plan', file: f.name, action: 'resume', detail: `from byte ${offset} once ${mb(offset)} read back proves them a prefix` });
        overallDone += f.bytes;
        continue;
      }
      if (!c.same) {
        onEvent({ kind: 'note', file: f.name, message: `the ${offset} bytes an earlier upload left are not the start of ${f.name} (${c.how}); discarding them` });
        offset = 0;
      } else onEvent({ kind: 'note', file: f.name, message: `the ${offset} bytes an earlier upload left are the start of ${f.name} (${c.how})` });
    }
    if (opts.dryRun) {
      const verifyBy = check === 'size-only' ? 'size only (--size-only)' : 'its content';
      onEvent({ kind: 'plan', file: f.name, action: offset > 0 ? 'resume' : 'send', detail: `${offset > 0 ? `from byte ${offset}, ` : ''}${f.bytes - offset} bytes${stale ? ' (replacing other bytes)' : ''}; then check ${verifyBy}` });
      overallDone += f.bytes;
      continue;
    }
    if (offset === 0) await t.remove(tmp);
    else result.resumed.push(f.name);
    onEvent({ kind: 'start', file: f.name, bytes: f.bytes, resumeFrom: offset });
    const t0 = now();
    let done = offset;
    overallDone += offset;
    if (offset < f.bytes) {
      try {
        await t.write(createReadStream(f.local, { start: offset }), tmp, offset, (n) => {
          done += n;
          overallDone += n;
          result.bytesSent += n;
          const elapsed = (now() - started) / 1000;
          const rate = elapsed > 0 ? result.bytesSent / elapsed : 0;
          onEvent({ kind: 'progress', file: f.name, done, bytes: f.bytes, overallDone, overallBytes, rate, etaSeconds: rate > 0 ? (overallBytes - overallDone) / rate : 0 });
        });
      } catch (e) {
        if (e instanceof DataRefused) throw await refused(e, f, tmp, offset, done);
        throw e;
      }
    }
    const size = await t.size(tmp);
    const c: Comparison = size !== f.bytes ? { same: false, how: `size ${size ?? 'missing'}` } : check === 'size-only' ? { same: true, how: 'size checked (content not checked: --size-only)' } : (await compare(tmp, f, f.bytes, true))!;
    if (!c.same) {
      await t.remove(tmp);
      throw new TransportError(
        `upload of ${f.name} did not verify (remote: ${c.how}; local ${f.bytes} bytes, sha256 ${f.sha256.slice(0, 12)}); the temporary copy was removed`,
        'run deploy again; if it repeats, the connection or the machine\'s disk corrupts data: check the cable and the disk (and that the server transfers in binary mode)',
      );
    }
    await t.rename(tmp, final);
    if (f.executable) await t.chmod(final, 0o755);
    result.uploaded.push(f.name);
    if (stale) result.replaced.push(f.name);
    onEvent({ kind: 'done', file: f.name, bytes: f.bytes, seconds: (now() - t0) / 1000, checked: c.how });
  }
  result.seconds = (now() - started) / 1000;
  return result;

  async function skip(f: DeployFile, reason: string) {
    result.skipped.push(f.name);
    overallDone += f.bytes;
    if (opts.dryRun) onEvent({ kind: 'plan', file: f.name, action: 'skip', detail: reason });
    else onEvent({ kind: 'skip', file: f.name, reason });
    if (f.executable && !opts.dryRun) await t.chmod(join(f.name), 0o755);
  }

  /** A full disk: the partial is removed (it only fills the disk) and the space seen is said. */
  async function refused(e: DataRefused, f: DeployFile, tmp: string, offset: number, sent: number): Promise<TransportError> {
    const arrived = (await t.size(tmp).catch(() => undefined)) ?? 0;
    // It took some of the bytes and then stopped, though still answering: the disk filled up.
    const diskFull = e.diskFull ?? (arrived > offset && arrived < sent);
    if (!diskFull) return e;
    await t.remove(tmp).catch(() => undefined);
    const free = await t.freeBytes?.(remoteDir).catch(() => undefined);
    const seen = `it took ${Math.max(arrived - offset, 0)} bytes of ${f.name} (${f.bytes} bytes), then refused the rest${free === undefined ? '' : `; ${free} bytes free there after removing the partial copy`}`;
    return new TransportError(`${remoteDir} on the machine: disk full: ${seen}`, `free at least ${mb(f.bytes)} there, then run deploy again`);
  }
}
