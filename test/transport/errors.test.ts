/**
 * Connection failures say what happened first and how to fix it (issue 27): a machine that is
 * down is reported as down before any password is asked for, and a server that accepts the
 * connection but never answers is "timed out", not basic-ftp's "Timeout (control socket)".
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { TransportError, UsageError } from '../../src/errors.js';
import { findMachine } from '../../src/transport/machines.js';
import { connectFtp } from '../../src/transport/ftp.js';
import { resolveRemote, type Secrets } from '../../src/transport/remote.js';
import { fingerprint } from '../../src/transport/hostkeys.js';
import { protocol } from '../../src/transport/registry.js';
import { tempDir } from '../helpers/fixtures.js';
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

describe('an SSH session that drops while a command is asked for (issue 27)', () => {
  /** An ssh2 server whose exec request is refused, and then, when `drop`, the connection closed. */
  async function server(drop: boolean) {
    const dir = tempDir();
    for (const k of ['host', 'client']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)]);
    const hostPub = (ssh2.utils.parseKey(readFileSync(join(dir, 'host.pub'))) as ssh2.ParsedKey).getPublicSSH();
    const s = new ssh2.Server({ hostKeys: [readFileSync(join(dir, 'host'))] }, (client) => {
      client.on('authentication', (ctx) => ctx.accept());
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept();
          session.on('sftp', (acceptSftp) => acceptSftp());
          session.on('exec', (_accept, reject) => {
            reject();
            if (drop) setTimeout(() => client.end(), 50);
          });
        });
      });
      client.on('error', () => {});
    });
    await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
    const port = (s.address() as { port: number }).port;
    return { s, port, endpoint: { host: '127.0.0.1', port, credentials: { user: 'me', identity: join(dir, 'client') }, hostKeySha256: fingerprint(hostPub) } };
  }

  it('says the connection dropped, not "cannot run a command: Unable to exec"', async () => {
    const { s, port, endpoint } = await server(true);
    try {
      const t = await protocol('ssh').connect(endpoint);
      const e = await failure(t.exec!('sha256sum model.rtr', () => {}, () => {}));
      t.close();
      expect(e).toBeInstanceOf(TransportError);
      expect(e.message).toBe(`ssh 127.0.0.1:${port}: the connection dropped while running a command on the machine`);
      expect((e as TransportError).hint).toMatch(/check the machine and the network/);
    } finally {
      s.close();
    }
  });

  it('a server that refuses exec and stays connected: the account cannot run commands', async () => {
    const { s, port, endpoint } = await server(false);
    try {
      const t = await protocol('ssh').connect(endpoint);
      const e = await failure(t.exec!('true', () => {}, () => {}));
      t.close();
      expect(e.message).toBe(`ssh 127.0.0.1:${port}: the server refused to run a command (Unable to exec)`);
      expect((e as TransportError).hint).toMatch(/ForceCommand/);
    } finally {
      s.close();
    }
  });
});
