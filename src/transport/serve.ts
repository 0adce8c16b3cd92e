/**
 * Serving a bundle to a machine that pulls it (Windows 98 has ftp.exe and Internet Explorer but
 * rarely a server): an FTP server (ftp-srv) and an HTTP server on one address, read-only except
 * for one upload name, behind a one-time password. TFTP (XeLL's network loader) is not served:
 * no maintained npm TFTP server exists (the `tftp` package was last published in 2015).
 */
import { createReadStream, createWriteStream, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import ftpModule, { type FileSystem as FtpFileSystem, type FtpConnection, type FtpSrv as FtpServer } from 'ftp-srv';
import { TransportError } from '../errors.js';

export interface ServedFile {
  name: string;
  local: string;
}

export interface ServeOptions {
  address: string;
  ftpPort: number;
  httpPort: number;
  user: string;
  password: string;
  files: ServedFile[];
  /** The one name the machine may upload (TRACE.TXT), stored in `uploadDir`. */
  uploadName: string;
  uploadDir: string;
  /** Called with the uploaded file's path once it is complete. */
  onUpload: (path: string, via: 'ftp' | 'http') => void;
  /** Extra text files offered for download (GET.TXT), by name. */
  texts: Record<string, string>;
}

export interface Serving {
  close(): Promise<void>;
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** ftp-srv logs through bunyan to stdout by default; retro prints its own lines. */
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return quiet; } };

export async function serve(o: ServeOptions): Promise<Serving> {
  const byName = new Map(o.files.map((f) => [f.name.toLowerCase(), f.local]));
  const upload = join(o.uploadDir, o.uploadName);
  const isUpload = (name: string) => name.replace(/^.*[\\/]/, '').toLowerCase() === o.uploadName.toLowerCase();
  const textPath = (name: string) => Object.keys(o.texts).find((t) => t.toLowerCase() === name.toLowerCase());
  // A CommonJS module: its classes hang off the default export.
  const { FtpSrv, FileSystem, ftpErrors } = ftpModule as unknown as { FtpSrv: typeof FtpServer; FileSystem: typeof FtpFileSystem; ftpErrors: { FileSystemError: new (m: string) => Error } };
  const refuse = () => {
    throw new ftpErrors.FileSystemError('read-only: only the trace may be uploaded');
  };
  const stat = (name: string, local: string): Stats => Object.assign(statSync(local), { name });

  /** One flat, read-only folder: the bundle's files, plus the trace once it arrived. */
  class BundleFs extends FileSystem {
    override currentDirectory() {
      return '/';
    }
    override async get(name: string) {
      const base = name.replace(/^.*[\\/]/, '');
      const local = byName.get(base.toLowerCase()) ?? (isUpload(base) ? upload : undefined);
      if (!local) throw new ftpErrors.FileSystemError('no such file');
      return stat(base, local);
    }
    override async list() {
      return o.files.map((f) => stat(f.name, f.local));
    }
    override async chdir(path = '/') {
      if (path !== '/' && path !== '.') throw new ftpErrors.FileSystemError('there is one folder');
      return '/';
    }
    override async read(name: string) {
      const local = byName.get(name.replace(/^.*[\\/]/, '').toLowerCase());
      if (!local) throw new ftpErrors.FileSystemError('no such file');
      return { stream: createReadStream(local), clientPath: `/${name}` };
    }
    override write(name: string) {
      if (!isUpload(name)) refuse();
      return { stream: createWriteStream(`${upload}.partial`), clientPath: `/${o.uploadName}` };
    }
    override delete = refuse;
    override mkdir = refuse;
    override rename = refuse;
    override chmod = refuse;
  }

  const ftp = new FtpSrv({
    url: `ftp://${o.address}:${o.ftpPort}`,
    pasv_url: o.address,
    pasv_min: o.ftpPort + 1,
    pasv_max: o.ftpPort + 20,
    anonymous: false,
    greeting: ['retro serve: log in with the one-time password printed where retro runs'],
    blacklist: ['DELE', 'RMD', 'MKD', 'XMKD', 'XRMD', 'RNFR', 'RNTO', 'SITE'],
    log: quiet as never,
  });
  ftp.on('login', ({ connection, username, password }: { connection: FtpConnection; username: string; password: string }, resolve: (r: { fs: FtpFileSystem }) => void, reject: (e: Error) => void) => {
    if (!same(username, o.user) || !same(password, o.password)) return reject(new Error('wrong user or password'));
    connection.on('STOR', (err: Error | null) => {
      if (err) return rmSync(`${upload}.partial`, { force: true });
      renameSync(`${upload}.partial`, upload);
      o.onUpload(upload, 'ftp');
    });
    resolve({ fs: new BundleFs(connection, { root: o.uploadDir, cwd: '/' }) as never });
  });
  ftp.on('client-error', () => {});

  const http = createServer((req, res) => {
    handleHttp(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  async function handleHttp(req: IncomingMessage, res: ServerResponse) {
    // Basic authentication: IE 5 asks for it in a dialog.
    const auth = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
    const colon = auth.indexOf(':');
    if (colon < 0 || !same(auth.slice(0, colon), o.user) || !same(auth.slice(colon + 1), o.password)) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="retro"', 'Content-Type': 'text/plain' });
      return res.end('log in with the one-time password printed where retro runs\r\n');
    }
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '');
    if (req.method === 'POST' && path === 'upload') return receive(req, res);
    if (req.method !== 'GET') {
      res.writeHead(405);
      return res.end();
    }
    if (path === '') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=iso-8859-1' });
      return res.end(indexPage(o));
    }
    const text = textPath(path);
    if (text !== undefined) {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Disposition': `attachment; filename=${text}` });
      return res.end(o.texts[text]);
    }
    const local = byName.get(path.toLowerCase());
    if (!local) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': statSync(local).size, 'Content-Disposition': `attachment; filename=${path}` });
    createReadStream(local).pipe(res);
  }

  /** A multipart/form-data POST with one file field, as IE 5's upload form sends it. */
  async function receive(req: IncomingMessage, res: ServerResponse) {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(req.headers['content-type'] ?? '');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      // A trace is a few hundred KB at most; more is not a trace.
      if (size > 64 * 1048576) {
        res.writeHead(413);
        return res.end();
      }
      chunks.push(c);
    }
    const body = Buffer.concat(chunks);
    const b = boundary && `--${boundary[1] ?? boundary[2]}`;
    const start = b ? body.indexOf('\r\n\r\n', body.indexOf(b)) : -1;
    const end = b ? body.indexOf(`\r\n${b}`, start) : -1;
    if (start < 0 || end < 0) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      return res.end('send the trace with the form on the first page\r\n');
    }
    const data = body.subarray(start + 4, end);
    const partial = `${upload}.partial`;
    await new Promise<void>((ok, fail) => createWriteStream(partial).on('error', fail).end(data, ok));
    renameSync(partial, upload);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=iso-8859-1' });
    res.end(`<html><body><p>${o.uploadName} received (${data.length} bytes). The verdict appears where retro runs.</p></body></html>`);
    o.onUpload(upload, 'http');
  }

  try {
    await ftp.listen();
    await new Promise<void>((ok, fail) => http.once('error', fail).listen(o.httpPort, o.address, ok));
  } catch (e) {
    await ftp.close().catch(() => undefined);
    http.close();
    throw new TransportError(`cannot serve on ${o.address} (ports ${o.ftpPort}, ${o.httpPort}): ${(e as Error).message}`, 'pass --address with an address of this computer and free ports (--ftp-port, --http-port)');
  }
  return {
    async close() {
      await ftp.close().catch(() => undefined);
      const closed = new Promise<void>((ok) => http.close(() => ok()));
      http.closeAllConnections();
      await closed;
    },
  };
}

/** The page IE 5 shows: a link per file and a form that uploads the trace (HTML 3.2, no script). */
function indexPage(o: ServeOptions): string {
  const links = [...o.files.map((f) => f.name), ...Object.keys(o.texts)].map((n) => `<li><a href="/${n}">${n}</a></li>`).join('\n');
  return `<html><head><title>retro</title></head><body>
<h1>retro</h1>
<p>Save each file into one folder on this machine (right click, Save Target As...).</p>
<ul>
${links}
</ul>
<h2>Send the trace back</h2>
<form method="POST" action="/upload" enctype="multipart/form-data">
<input type="file" name="trace"> <input type="submit" value="Send ${o.uploadName}">
</form>
</body></html>
`;
}
