/**
 * FTP (explicit FTPS when the server offers AUTH TLS) with basic-ftp. Binary mode always.
 * Works with 1990s servers too: without FEAT, SIZE or EPSV, sizes come from LIST (Unix and DOS
 * listings, names compared without case as 8.3 file systems do) and transfers use PASV. A server
 * that lists SIZE but refuses it gets the same LIST fallback.
 */
import { Transform, Writable, type Readable } from 'node:stream';
import { Client } from 'basic-ftp';
import { TransportError } from '../errors.js';
import type { Digest, DigestAlgo } from './digest.js';
import { connectionError, DataRefused } from './errors.js';
import type { Connect, Endpoint, Transport } from './types.js';

function remoteError(e: unknown, what: string, path: string): TransportError {
  const msg = (e as Error).message?.split('\n')[0] ?? String(e);
  return new TransportError(`ftp: ${what} ${path} failed: ${msg}`, 'check that the remote directory exists and is writable by this user');
}

/** Replies that mean "no room": 452 (insufficient storage), 552 (exceeded allocation), or words to that effect. */
const NO_ROOM = /\b45[12]\b|\b552\b|space|full|quota|failure writing/i;

/** Digest commands, best first: the HASH algorithm name (RFC draft) and the older X command. */
const DIGESTS: { algo: DigestAlgo; hash: string; x: string }[] = [
  { algo: 'sha256', hash: 'SHA-256', x: 'XSHA256' },
  { algo: 'sha1', hash: 'SHA-1', x: 'XSHA1' },
  { algo: 'md5', hash: 'MD5', x: 'XMD5' },
  { algo: 'crc32', hash: 'CRC32', x: 'XCRC' },
];

async function login(client: Client, ep: Endpoint): Promise<Map<string, string>> {
  await client.access({ host: ep.host, port: ep.port, user: ep.credentials.user, password: ep.credentials.password ?? '', secure: false });
  // Servers older than RFC 2389 answer FEAT with an error: no features.
  let features = await client.features().catch(() => new Map<string, string>());
  if ((features.get('AUTH') ?? '').includes('TLS')) {
    await client.useTLS({ rejectUnauthorized: false });
    await client.login(ep.credentials.user, ep.credentials.password ?? '');
    await client.useDefaultSettings();
    features = await client.features().catch(() => new Map<string, string>());
  }
  await client.send('TYPE I');
  return features;
}

export const connectFtp: Connect = async (ep: Endpoint): Promise<Transport> => {
  const client = new Client(ep.timeoutMs ?? 15000);
  let features: Map<string, string>;
  try {
    features = await login(client, ep);
  } catch (e) {
    client.close();
    throw connectionError(e, ep, 'ftp');
  }
  /** basic-ftp closes the client on any socket error; a server that still answers gets a new login. */
  const reconnect = async (): Promise<boolean> => {
    if (!client.closed) return true;
    try {
      features = await login(client, ep);
      return true;
    } catch {
      return false;
    }
  };
  const digested = new Set<string>();
  const digestCommand = () => {
    const offered = (features.get('HASH') ?? '').toUpperCase().split(';').map((a) => a.replace('*', ''));
    for (const d of DIGESTS) if (offered.includes(d.hash)) return { algo: d.algo, send: async (p: string) => (await client.send(`OPTS HASH ${d.hash}`), client.send(`HASH ${p}`)) };
    for (const d of DIGESTS) if (features.has(d.x)) return { algo: d.algo, send: (p: string) => client.send(`${d.x} ${p}`) };
    return undefined;
  };
  const split = (path: string) => {
    const i = path.lastIndexOf('/');
    return i < 0 ? { dir: '', name: path } : { dir: path.slice(0, i) || '/', name: path.slice(i + 1) };
  };
  let sizeWorks = features.has('SIZE');
  /** The size a directory listing shows, whose names an 8.3 server may have upper-cased. */
  const listedSize = async (path: string): Promise<number | undefined> => {
    const { dir, name } = split(path);
    try {
      const entries = await client.list(dir);
      return entries.find((x) => x.name.toLowerCase() === name.toLowerCase() && x.isFile)?.size;
    } catch {
      return undefined;
    }
  };
  return {
    protocol: 'ftp',
    async ensureDir(dir) {
      try {
        const here = await client.pwd();
        await client.ensureDir(dir);
        await client.cd(here);
      } catch (e) {
        throw remoteError(e, 'creating directory', dir);
      }
    },
    async size(path) {
      if (sizeWorks) {
        try {
          return await client.size(path);
        } catch {
          // 550 means "no such file", or that SIZE is refused though FEAT lists it (ProFTPD's
          // `<Limit SIZE> DenyAll`): the listing tells which, and a file it shows stops SIZE's use.
          if (!(await reconnect())) return undefined;
        }
      }
      const listed = await listedSize(path);
      if (listed !== undefined) sizeWorks = false;
      return listed;
    },
    async digest(path): Promise<Digest | undefined> {
      const cmd = digestCommand();
      if (!cmd) return undefined;
      // ProFTPD's mod_digest caches a path's digest for the session, across STOR, APPE and RNTO:
      // a path asked about before is asked in a new session.
      if (digested.has(path)) {
        client.close();
        if (!(await reconnect())) return undefined;
        digested.clear();
      }
      digested.add(path);
      try {
        const reply = await cmd.send(path);
        // "213 SHA-256 0-1234 <hex> <name>" (HASH) or "250 <hex>" (X commands): the first hex word of 8+ digits.
        const hex = reply.message.slice(4).split(/\s+/).find((w) => /^[0-9a-f]{8,}$/i.test(w) && !/^\d+-\d+$/.test(w));
        return hex ? { algo: cmd.algo, hex: hex.toLowerCase() } : undefined;
      } catch {
        return undefined;
      }
    },
    async write(source: Readable, path, offset, onBytes) {
      // Counted as the socket takes the data: basic-ftp's own tracker reports only every half second.
      const counted = source.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            onBytes(chunk.length);
            done(null, chunk);
          },
        }),
      );
      try {
        if (offset > 0) await client.appendFrom(counted, path);
        else await client.uploadFrom(counted, path);
      } catch (e) {
        const msg = (e as Error).message?.split('\n')[0] ?? String(e);
        // A server that is gone leaves a partial to resume; one that answers but refused the data does not.
        if (!(await reconnect())) throw new TransportError(`ftp ${ep.host}:${ep.port}: the connection dropped while uploading ${path} (${msg})`, 'run deploy again when the server is back: it resumes where this one stopped');
        // A reply says why; a data connection cut without one leaves it to the bytes that arrived.
        const replied = typeof (e as { code?: unknown }).code === 'number';
        const full = NO_ROOM.test(msg) ? true : replied ? false : undefined;
        throw new DataRefused(`ftp: the server refused the data of ${path}: ${msg}`, full ? 'free space on the machine' : 'check that the remote directory is writable by this user and the server allows appending (APPE)', full);
      }
    },
    async rename(from, to) {
      try {
        await client.rename(from, to);
      } catch {
        // Windows servers do not rename over an existing file.
        await client.remove(to, true);
        try {
          await client.rename(from, to);
        } catch (e) {
          throw remoteError(e, 'renaming', from);
        }
      }
    },
    async remove(path) {
      await client.remove(path, true);
    },
    async chmod(path, mode) {
      // SITE CHMOD is an extension; servers without it (Windows 98's) have no modes to set.
      await client.send(`SITE CHMOD ${mode.toString(8)} ${path}`, true).catch(() => undefined);
    },
    async download(path, onData) {
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          onData(chunk);
          done();
        },
      });
      try {
        await client.downloadTo(sink, path);
      } catch (e) {
        throw remoteError(e, 'downloading', path);
      }
    },
    close: () => client.close(),
  };
};
