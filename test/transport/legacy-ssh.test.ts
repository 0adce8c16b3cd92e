/**
 * SSH to a server with exactly the algorithms of Mac OS X 10.4/10.5 OpenSSH, played by an ssh2
 * Server (OpenSSH 9 cannot: it advertises rsa-sha2 signatures, an old server does not), so the
 * client must log in with an ssh-rsa (SHA-1) signature and negotiate SHA-1 key exchange, a CBC
 * cipher and hmac-md5/sha1.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/errors.js';
import { fingerprint } from '../../src/transport/hostkeys.js';
import { protocol } from '../../src/transport/registry.js';
import { LEGACY_ALGORITHMS } from '../../src/transport/sshconfig.js';
import type { Endpoint } from '../../src/transport/types.js';
import { tempDir } from '../helpers/fixtures.js';

/**
 * What OpenSSH 4.5 (Mac OS X 10.4) offers that an ssh2 server implements, in its order
 * (diffie-hellman-group-exchange-sha1 too on the real thing: ssh2 serves no group exchange;
 * test/core/deploy.test.ts negotiates it with a restricted OpenSSH).
 */
const TIGER = {
  kex: ['diffie-hellman-group14-sha1', 'diffie-hellman-group1-sha1'],
  cipher: ['aes128-cbc', '3des-cbc', 'aes192-cbc', 'aes256-cbc'],
  hmac: ['hmac-md5', 'hmac-sha1', 'hmac-sha1-96', 'hmac-md5-96'],
  serverHostKey: ['ssh-rsa'],
  compress: ['none'],
};

/**
 * OpenSSH 4.5 predates RFC 8308: it never sends EXT_INFO (server-sig-algs), so a client signs
 * with ssh-rsa. An ssh2 server always sends it when asked; this turns that off for one connection.
 */
function noExtInfo(client: ssh2.Connection): void {
  const protocol = (client as unknown as { _protocol: Record<string, unknown> })._protocol;
  const off = (kex: unknown) => kex && Object.defineProperty(kex, 'remoteExtInfoEnabled', { get: () => false, set: () => {}, configurable: true });
  let kex = protocol._kex;
  off(kex);
  Object.defineProperty(protocol, '_kex', {
    get: () => kex,
    set: (v) => {
      kex = v;
      off(v);
    },
    configurable: true,
  });
}

describe('ssh to an old (Mac OS X 10.4) server', () => {
  let server: ssh2.Server;
  let port: number;
  let endpoint: Endpoint;
  const seen: { sigAlgo?: string; hashAlgo?: string; kex?: string; cipher?: string; hmac?: string; commands: string[] } = { commands: [] };
  beforeAll(async () => {
    const dir = tempDir();
    for (const k of ['host', 'client']) execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-f', join(dir, k)]);
    const clientKey = ssh2.utils.parseKey(readFileSync(join(dir, 'client.pub'))) as ssh2.ParsedKey;
    const hostPub = (ssh2.utils.parseKey(readFileSync(join(dir, 'host.pub'))) as ssh2.ParsedKey).getPublicSSH();
    server = new ssh2.Server({ hostKeys: [readFileSync(join(dir, 'host'))], ident: 'OpenSSH_4.5', algorithms: TIGER as ssh2.Algorithms }, (client) => {
      noExtInfo(client);
      client.on('handshake', (n) => Object.assign(seen, { kex: n.kex, cipher: n.cs.cipher, hmac: n.cs.mac }));
      client.on('authentication', (ctx) => {
        if (ctx.method !== 'publickey' || ctx.key.algo !== 'ssh-rsa' || !ctx.key.data.equals(clientKey.getPublicSSH())) return ctx.reject(['publickey']);
        if (!ctx.signature) return ctx.accept();
        seen.sigAlgo = ctx.key.algo;
        // ssh2 names no hash for a plain ssh-rsa signature (rsa-sha2-256 would say sha256).
        seen.hashAlgo = ctx.hashAlgo ?? 'sha1';
        // OpenSSH 4.5 verifies ssh-rsa signatures with SHA-1 only.
        if (seen.hashAlgo !== 'sha1' || clientKey.verify(ctx.blob!, ctx.signature, 'sha1') !== true) return ctx.reject();
        ctx.accept();
      });
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept();
          session.on('sftp', (acceptSftp) => acceptSftp());
          session.on('exec', (acceptExec, _reject, info) => {
            seen.commands.push(info.command);
            const stream = acceptExec();
            stream.write('Darwin\n');
            stream.exit(0);
            stream.end();
          });
        });
      });
      client.on('error', () => {});
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as { port: number }).port;
    writeFileSync(join(dir, 'known_hosts'), '');
    endpoint = { host: '127.0.0.1', port, credentials: { user: 'me', identity: join(dir, 'client') }, hostKeySha256: fingerprint(hostPub) };
  });
  afterAll(() => server?.close());

  it('without the legacy setting: refused, naming what the server offers and the setting', async () => {
    const err = await protocol('ssh').connect(endpoint).then(
      (t) => (t.close(), undefined),
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect(err!.message).toBe(`ssh 127.0.0.1:${port}: no matching key exchange algorithm; the server offers ${TIGER.kex.join(',')}`);
    expect((err as TransportError).hint).toMatch(/--ssh-legacy or set "ssh": \{ "legacy": true \}.*"kex": \["\+diffie-hellman-group14-sha1"\]/);
  });

  it('with the legacy setting: SHA-1 key exchange, a CBC cipher, and an ssh-rsa (SHA-1) key login; commands run', async () => {
    const t = await protocol('ssh').connect({ ...endpoint, algorithms: LEGACY_ALGORITHMS });
    const out: Buffer[] = [];
    expect(await t.exec!('uname -s', (b) => out.push(b), () => {})).toBe(0);
    t.close();
    expect(Buffer.concat(out).toString()).toBe('Darwin\n');
    expect(seen.commands).toEqual(['uname -s']);
    expect(seen.sigAlgo).toBe('ssh-rsa');
    expect(seen.hashAlgo).toBe('sha1');
    expect(TIGER.kex).toContain(seen.kex);
    expect(TIGER.cipher).toContain(seen.cipher);
    expect(TIGER.hmac).toContain(seen.hmac);
  });
});
