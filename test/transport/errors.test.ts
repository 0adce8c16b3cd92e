/**
 * Connection failures say what happened first and how to fix it (issue 27): a machine that is
 * down is reported as down before any password is asked for, and a server that accepts the
 * connection but never answers is "timed out", not basic-ftp's "Timeout (control socket)".
 */
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TransportError, UsageError } from '../../src/errors.js';
import { findMachine } from '../../src/transport/machines.js';
import { connectFtp } from '../../src/transport/ftp.js';
import { resolveRemote, type Secrets } from '../../src/transport/remote.js';
import { freePort } from '../helpers/servers.js';

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

describe('connection errors', () => {
  it('a down machine with no password set: connection refused, and no password asked for', async () => {
    const port = await freePort();
    let asked = 0;
    const secrets: Secrets = { user: 'me', password: async () => (asked++, undefined) };
    const remote = await resolveRemote({ target: 'win98-pentium2', host: '127.0.0.1', port, via: 'ftp' }, secrets);
    const e = await failure(remote.connect());
    expect(e).toBeInstanceOf(TransportError);
    expect(e.message).toBe(`ftp://me@127.0.0.1:${port}: connection refused`);
    expect(asked).toBe(0);
  });

  it('an FTP server that accepts and never answers: timed out, with the fix for an unreachable machine', async () => {
    const held: Socket[] = [];
    const server = createServer((s) => held.push(s));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    try {
      const e = await failure(connectFtp({ host: '127.0.0.1', port, credentials: { user: 'me', password: 'x' }, timeoutMs: 500 }));
      expect(e).toBeInstanceOf(TransportError);
      expect(e.message).toBe(`ftp://me@127.0.0.1:${port}: host unreachable (timed out)`);
      expect((e as TransportError).hint).toMatch(/check the machine is on/);
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  });
});

describe('machine names are own properties of retro.config.json (issue 27)', () => {
  it('"constructor" is no machine', () => {
    expect(() => findMachine('constructor', {}, 'retro.config.json')).toThrow(UsageError);
    expect(() => findMachine('constructor', {}, 'retro.config.json')).toThrow(/no machine named "constructor" in retro\.config\.json/);
  });
});
