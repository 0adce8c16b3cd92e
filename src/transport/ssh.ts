/** SSH: SFTP for files, exec for remote runs and sha256, with host keys always checked. */
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Client, type SFTPWrapper } from 'ssh2';
import { HostKeyError, InputFileError, TransportError } from '../errors.js';
import type { Digest, DigestAlgo } from './digest.js';
import { connectionError, DataRefused } from './errors.js';
import { checkHostKey, type HostKeyVerdict } from './hostkeys.js';
import { ssh2Algorithms } from './sshconfig.js';
import type { Connect, Endpoint, Transport } from './types.js';

/** SFTP write requests in flight at once. */
const WINDOW = 16;

/** A word for a POSIX shell, single-quoted. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function sftpError(e: unknown, what: string, path: string): TransportError {
  const msg = (e as Error).message ?? String(e);
  return new TransportError(`sftp: ${what} ${path} failed: ${msg}`, 'check that the remote directory exists and is writable by this user');
}

/** No algorithm in common: what the server offered, and the setting that adds what it needs. */
function negotiationError(message: string, offered: Record<string, string>, ep: Endpoint): TransportError {
  const what = message.replace(/^Handshake failed: /i, '');
  const key = /key exchange/.test(what) ? 'KEX method' : /host key/.test(what) ? 'Host key format' : /cipher/.test(what) ? 'C->S cipher' : /mac/i.test(what) ? 'C->S MAC' : undefined;
  const field = { 'KEX method': 'kex', 'Host key format': 'serverHostKey', 'C->S cipher': 'cipher', 'C->S MAC': 'hmac' }[key ?? 'KEX method'];
  // Markers that are not algorithms (strict KEX, extension negotiation) are left out.
  const list = key && offered[key] ? offered[key].split(',').filter((a) => !/^(kex-strict-|ext-info-)/.test(a)) : [];
  const offers = list.length ? `; the server offers ${list.join(',')}` : '';
  return new TransportError(
    `ssh ${ep.host}:${ep.port}: ${what}${offers}`,
    `an old server (Mac OS X 10.4/10.5): pass --ssh-legacy or set "ssh": { "legacy": true } for the machine in retro.config.json; or add exactly what it offers, e.g. "ssh": { "${field}": ["+${list[0] ?? 'name'}"] } (docs/ssh-legacy.md)`,
  );
}

/**
 * One shell command that prints "<algo> <digest>" with the best tool the machine has: GNU
 * coreutils, BSD/Mac OS X (shasum, md5), OpenSSL, else POSIX cksum, which every Unix has.
 */
function digestScript(path: string): string {
  const f = shellQuote(path);
  const tries = [
    ['sha256sum', `echo sha256 $(sha256sum < ${f})`],
    ['shasum', `echo sha256 $(shasum -a 256 < ${f})`],
    ['openssl', `echo sha256 $(openssl dgst -sha256 < ${f})`],
    ['md5sum', `echo md5 $(md5sum < ${f})`],
    ['md5', `echo md5 $(md5 -q < ${f})`],
    ['cksum', `echo cksum $(cksum < ${f})`],
  ];
  return `test -r ${f} || exit 1; ${tries.map(([tool, cmd]) => `if command -v ${tool} >/dev/null 2>&1; then ${cmd}; exit; fi`).join('; ')}; exit 1`;
}

const DIGEST_ALGOS = new Set(['sha256', 'md5', 'cksum']);

function call<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((ok, fail) => fn((err, v) => (err ? fail(err) : ok(v as T))));
}

export const connectSsh: Connect = async (ep: Endpoint): Promise<Transport> => {
  let privateKey: Buffer | undefined;
  if (ep.credentials.identity) {
    try {
      privateKey = readFileSync(ep.credentials.identity);
    } catch {
      throw new InputFileError(`${ep.credentials.identity}: cannot read the SSH key`, 'check the path given to --identity');
    }
  }
  const conn = new Client();
  const offered: Record<string, string> = {};
  let verdict: HostKeyVerdict = { ok: true };
  await new Promise<void>((ok, fail) => {
    conn.once('ready', () => ok());
    conn.once('error', (e) => {
      if (!verdict.ok) {
        const where = `${ep.host}:${ep.port}`;
        const messages = {
          unknown: [`unknown host key ${verdict.fingerprint}; refusing to connect`, `if that is the machine's key, pass --host-key-sha256 ${verdict.fingerprint} or add it to known_hosts (ssh-keyscan -p ${ep.port} ${ep.host})`],
          changed: [`HOST KEY CHANGED, now ${verdict.fingerprint}; refusing to connect`, 'if the machine was reinstalled, update known_hosts; otherwise someone may be intercepting the connection'],
          pin: [`host key ${verdict.fingerprint} is not the pinned ${ep.hostKeySha256}; refusing to connect`, 'compare the pin (--host-key-sha256 or hostKeySha256 in retro.config.json) with ssh-keygen -l -f /etc/ssh/ssh_host_*_key.pub at the machine; if they differ, someone may be intercepting the connection'],
        }[verdict.reason];
        fail(new HostKeyError(`ssh ${where}: ${messages[0]}`, messages[1]));
      } else if (/no matching/i.test(e.message)) fail(negotiationError(e.message, offered, ep));
      else fail(connectionError(e, ep, 'ssh'));
    });
    try {
      conn.connect({
        host: ep.host,
        port: ep.port,
        username: ep.credentials.user,
        password: ep.credentials.password,
        privateKey,
        agent: ep.credentials.agent,
        readyTimeout: ep.timeoutMs ?? 15000,
        algorithms: ssh2Algorithms(ep.algorithms) as never,
        // What the server offers, for the message when no algorithm is common.
        debug: (line: string) => {
          const m = /^Handshake: \(remote\) (KEX method|Host key format|C->S cipher|C->S MAC): (.*)$/.exec(line);
          if (m) offered[m[1]] = m[2];
        },
        hostVerifier: (key: Buffer) => {
          verdict = checkHostKey(key, ep.host, ep.port, ep.knownHosts, ep.hostKeySha256);
          return verdict.ok;
        },
      });
    } catch (e) {
      fail(connectionError(e, ep, 'ssh'));
    }
  });
  let sftp: SFTPWrapper;
  try {
    sftp = await call<SFTPWrapper>((cb) => conn.sftp(cb));
  } catch (e) {
    conn.end();
    throw new TransportError(`ssh ${ep.host}:${ep.port}: no SFTP subsystem (${(e as Error).message})`, 'enable "Subsystem sftp" in the sshd configuration');
  }

  let closed = false;
  conn.once('close', () => (closed = true));
  const dropped = () => new TransportError(`ssh ${ep.host}:${ep.port}: the connection dropped while running a command on the machine`, 'check the machine and the network, then run the retro command again');
  const exec = (command: string, onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void) =>
    new Promise<number>((ok, fail) => {
      conn.exec(command, (err, stream) => {
        if (err) {
          // A session that is going away answers the exec request with a refusal ("Unable to exec")
          // before the connection closes: wait for the close a moment before blaming the account.
          const refused = new TransportError(`ssh ${ep.host}:${ep.port}: the server refused to run a command (${err.message})`, 'check the account may run commands (no ForceCommand, restricted shell or disabled exec in sshd_config)');
          const timer = setTimeout(() => fail(closed ? dropped() : refused), 500);
          conn.once('close', () => {
            clearTimeout(timer);
            fail(dropped());
          });
          return;
        }
        stream.on('data', onStdout);
        stream.stderr.on('data', onStderr);
        stream.on('close', (code: number | null) => (code === null && closed ? fail(dropped()) : ok(code ?? 255)));
      });
    });

  const freeBytes = async (dir: string): Promise<number | undefined> => {
    try {
      const st = await call<{ f_bavail: number | bigint; f_bsize: number | bigint; f_frsize: number | bigint }>((cb) => sftp.ext_openssh_statvfs(dir, cb as never));
      return Number(st.f_bavail) * Number(st.f_frsize || st.f_bsize);
    } catch {
      return undefined;
    }
  };

  return {
    protocol: 'ssh',
    async ensureDir(dir) {
      const parts = dir.split('/');
      for (let i = 1; i <= parts.length; i++) {
        const p = parts.slice(0, i).join('/');
        if (p === '' || p === '.') continue;
        try {
          await call((cb) => sftp.stat(p, cb));
        } catch {
          try {
            await call((cb) => sftp.mkdir(p, cb));
          } catch (e) {
            throw sftpError(e, 'creating directory', p);
          }
        }
      }
    },
    async size(path) {
      try {
        const st = await call<{ size: number }>((cb) => sftp.stat(path, cb as never));
        return st.size;
      } catch {
        return undefined;
      }
    },
    async digest(path): Promise<Digest | undefined> {
      let out = '';
      const code = await exec(digestScript(path), (b) => (out += b.toString()), () => {});
      const [algo, ...words] = out.trim().split(/\s+/);
      const hex = algo === 'cksum' ? words[0] : words.find((w) => /^[0-9a-f]{32,64}$/i.test(w));
      return code === 0 && DIGEST_ALGOS.has(algo) && hex && /^[0-9a-f]+$/i.test(hex) ? { algo: algo as DigestAlgo, hex: hex.toLowerCase() } : undefined;
    },
    freeBytes,
    async write(source: Readable, path, offset, onBytes) {
      // Pipelined writes (the SFTP server applies them in order, so what has arrived is always a
      // prefix of the file and a resume from its size is right; the sha256 check guards the rest).
      let handle: Buffer;
      try {
        handle = await call<Buffer>((cb) => sftp.open(path, offset > 0 ? 'r+' : 'w', cb));
      } catch (e) {
        throw sftpError(e, 'uploading', path);
      }
      let onLost = () => {};
      const lost = new Promise<never>((_, fail) => {
        onLost = () => fail(new TransportError(`ssh ${ep.host}:${ep.port}: the connection dropped while uploading ${path}`, 'run deploy again: it resumes where this one stopped'));
        conn.once('close', onLost);
      });
      lost.catch(() => {});
      const inflight = new Set<Promise<void>>();
      let pos = offset;
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          const at = pos;
          pos += chunk.length;
          const p: Promise<void> = call((cb) => sftp.write(handle, chunk, 0, chunk.length, at, cb)).then(
            () => {
              inflight.delete(p);
              onBytes(chunk.length);
            },
            async (e) => {
              // A refused write with the disk (nearly) full is a full disk, not a permission problem.
              const free = await freeBytes(path.replace(/\/[^/]*$/, '') || '.');
              if (free !== undefined && free < 1048576) throw new DataRefused(`sftp: the machine refused the data of ${path}: ${(e as Error).message}`, 'free space on the machine', true);
              throw sftpError(e, 'uploading', path);
            },
          );
          p.catch(() => {}); // observed by the race below; a late failure after a drop is not news
          inflight.add(p);
          if (inflight.size >= WINDOW) await Promise.race([...inflight, lost]);
        }
        await Promise.race([Promise.all(inflight), lost]);
      } catch (e) {
        source.destroy();
        throw e;
      } finally {
        conn.off('close', onLost);
        await Promise.race([call((cb) => sftp.close(handle, cb)), lost]).catch(() => {});
      }
    },
    async rename(from, to) {
      try {
        await call((cb) => sftp.ext_openssh_rename(from, to, cb));
      } catch {
        try {
          await call((cb) => sftp.unlink(to, cb));
        } catch {
          /* not there */
        }
        try {
          await call((cb) => sftp.rename(from, to, cb));
        } catch (e) {
          throw sftpError(e, 'renaming', from);
        }
      }
    },
    async remove(path) {
      try {
        await call((cb) => sftp.unlink(path, cb));
      } catch {
        /* already gone */
      }
    },
    async chmod(path, mode) {
      try {
        await call((cb) => sftp.chmod(path, mode, cb));
      } catch (e) {
        throw sftpError(e, 'changing the mode of', path);
      }
    },
    download(path, onData) {
      return new Promise((ok, fail) => {
        const s = sftp.createReadStream(path);
        s.on('data', onData);
        s.on('error', (e: Error) => fail(sftpError(e, 'downloading', path)));
        s.on('end', () => ok());
      });
    },
    exec,
    close: () => conn.end(),
  };
};
