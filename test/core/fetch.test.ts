/**
 * retro fetch reports what it wrote (issue 27): a server whose SIZE is not the bytes it sends is
 * refused with nothing left behind; a --file that names a folder is refused before connecting.
 * (The transport here is an in-process fake; test/core/deploy.test.ts fetches from real servers.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { download, runFetch } from '../../src/core/run.js';
import { TransportError, UsageError } from '../../src/errors.js';
import type { Transport } from '../../src/transport/types.js';
import { tempDir } from '../helpers/fixtures.js';

const serving = (claimed: number, body: Buffer): Transport => ({ size: async () => claimed, download: async (_p: string, onData: (b: Buffer) => void) => onData(body) }) as unknown as Transport;

describe('retro fetch', () => {
  it('writes and reports the bytes that came when they are the server size', async () => {
    const dir = tempDir();
    expect(await download(serving(5, Buffer.from('hello')), 'T.TXT', join(dir, 't.txt'), 'pc')).toBe(5);
    expect(readFileSync(join(dir, 't.txt'), 'utf8')).toBe('hello');
  });

  it('a server claiming 10 bytes that sends more, or fewer: refused, no file and no partial left', async () => {
    const dir = tempDir();
    for (const body of [Buffer.alloc(4000, 1), Buffer.alloc(3, 1)]) {
      await expect(download(serving(10, body), 'T.TXT', join(dir, 't.txt'), 'pc')).rejects.toThrow(TransportError);
      await expect(download(serving(10, body), 'T.TXT', join(dir, 't.txt'), 'pc')).rejects.toThrow(/T\.TXT is 10 bytes by the server's size, but (more|3) bytes came/);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it("--file 'sub/' is refused before anything is written (not <cwd>.partial)", async () => {
    const dir = tempDir();
    await expect(runFetch({ target: 'win98-pentium2', host: '127.0.0.1', port: 1, file: 'sub/', out: undefined }, { user: 'me', password: async () => 'x' })).rejects.toThrow(UsageError);
    await expect(runFetch({ target: 'win98-pentium2', host: '127.0.0.1', port: 1, file: 'sub/' }, { user: 'me', password: async () => 'x' })).rejects.toThrow(/--file "sub\/" names a folder, not a file/);
    expect(existsSync(`${process.cwd()}.partial`)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
