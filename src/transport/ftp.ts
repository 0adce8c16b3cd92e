/** FTP (explicit FTPS when the server offers AUTH TLS) with basic-ftp. Binary mode always. */
import { Transform, Writable, type Readable } from 'node:stream';
import { Client } from 'basic-ftp';
import { TransportError } from '../errors.js';
import { connectionError } from './errors.js';
import type { Connect, Endpoint, Transport } from './types.js';

function remoteError(e: unknown, what: string, path: string): TransportError {
  const msg = (e as Error).message?.split('\n')[0] ?? String(e);
  const full = /552|disk|quota|space/i.test(msg);
  return new TransportError(`ftp: ${what} ${path} failed: ${msg}`, full ? 'free space on the machine' : 'check that the remote directory exists and is writable by this user');
}

export const connectFtp: Connect = async (ep: Endpoint): Promise<Transport> => {
  const client = new Client(ep.timeoutMs ?? 15000);
  try {
    await client.access({ host: ep.host, port: ep.port, user: ep.credentials.user, password: ep.credentials.password ?? '', secure: false });
    const features = await client.features();
    if ((features.get('AUTH') ?? '').includes('TLS')) {
      await client.useTLS({ rejectUnauthorized: false });
      await client.login(ep.credentials.user, ep.credentials.password ?? '');
      await client.useDefaultSettings();
    }
    await client.send('TYPE I');
  } catch (e) {
    client.close();
    throw connectionError(e, ep, 'ftp');
  }
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
      try {
        return await client.size(path);
      } catch {
        return undefined;
      }
    },
    async sha256() {
      return undefined;
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
        throw remoteError(e, 'uploading', path);
      }
    },
    async rename(from, to) {
      try {
        await client.rename(from, to);
      } catch {
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
