/** Reading files a user hands retro, within stated limits: whole files and JSON documents. */
import { closeSync, openSync, readSync } from 'node:fs';
import { InputFileError, type RetroError } from './errors.js';

/**
 * A whole file of at most `limit` bytes, read without trusting its size: a device such as
 * /dev/zero or a runaway file is refused after limit + 1 bytes, never read to the end.
 */
export function readBounded(path: string, limit: number, what: string, hint: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputFileError(`${path}: cannot read ${what} (${(e as NodeJS.ErrnoException).code})`, hint);
  }
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(1 << 20, limit + 1 - n));
      const got = readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) break;
      chunks.push(chunk.subarray(0, got));
      n += got;
      if (n > limit) throw new InputFileError(`${path}: ${what} is larger than ${limit} bytes`, hint);
    }
    return Buffer.concat(chunks, n);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') throw new InputFileError(`${path}: is a directory, not a ${what}`, hint);
    throw e;
  } finally {
    closeSync(fd);
  }
}

/**
 * A JSON document of at most `limit` bytes. Errors say where the syntax breaks, never quoting the
 * file's bytes back; `fail` makes the error of the caller's kind (a profile, a config).
 */
export function readJsonFile(path: string, limit: number, what: string, fail: (message: string, hint: string) => RetroError): unknown {
  let text: string;
  try {
    text = readBounded(path, limit, what, `a ${what} is a small JSON file`).toString('utf8');
  } catch (e) {
    if (e instanceof InputFileError) throw fail(e.message, e.hint);
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    const line = at === undefined ? undefined : text.slice(0, Number(at)).split('\n').length;
    throw fail(`${path}: not valid JSON${line === undefined ? '' : ` (line ${line})`}`, 'fix the JSON syntax');
  }
}

/** Text from a file, fit for a one-line message: control characters shown as ?, at most `max` characters. */
export function printable(text: string, max = 200): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
