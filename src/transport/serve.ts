/**
 * Serving a bundle to a machine that pulls it (Windows 98 has ftp.exe and Internet Explorer but
 * rarely a server): an FTP server (ftp-srv) and an HTTP server on one address, read-only except
 * for one upload name, behind a one-time password. TFTP (XeLL's network loader) is not served:
 * no maintained npm TFTP server exists (the `tftp` package was last published in 2015).
 */
import { closeSync, createReadStream, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { once } from 'node:events';
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
  /** The one name the machine may upload (TRACE.TXT). */
  uploadName: string;
  /** Where each upload is kept under its own name (created if missing); never one of the served files. */
  uploadDir: string;
  /** Larger uploads are refused and their bytes removed. */
  maxUploadBytes: number;
  /** Uploads received at once (over FTP and HTTP together); more are refused with "try again". */
  maxConcurrentUploads?: number;
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

/** An upload refused with a reason the client may see: never a path or a system error of this computer. */
class Refused extends Error {}

/**
 * One upload, written to its own partial file and renamed to its own final name when complete, so
 * two uploads (or a refused one beside a good one) never touch each other's bytes. Bounded in size;
 * whatever fails removes the partial.
 */
class UploadSink extends Writable {
  bytes = 0;
  private fd: number | undefined;
  private complete = false;
  constructor(
    private readonly final: string,
    private readonly max: number,
    private readonly onComplete: (path: string) => void,
    private readonly release: () => void,
  ) {
    super();
    this.fd = openSync(`${final}.partial`, 'wx');
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void) {
    if (this.bytes + chunk.length > this.max) return done(new Refused(`a trace is at most ${this.max / 1048576} MB; this upload was refused and removed`));
    try {
      writeSync(this.fd!, chunk);
      this.bytes += chunk.length;
      done();
    } catch {
      done(new Refused('the trace could not be stored on the serving computer (its disk may be full)'));
    }
  }
  override _final(done: (e?: Error | null) => void) {
    try {
      closeSync(this.fd!);
      this.fd = undefined;
      renameSync(`${this.final}.partial`, this.final);
      this.complete = true;
      done();
      setImmediate(() => this.onComplete(this.final));
    } catch {
      done(new Refused('the trace could not be stored on the serving computer'));
    }
  }
  override _destroy(e: Error | null, done: (e?: Error | null) => void) {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (!this.complete) rmSync(`${this.final}.partial`, { force: true });
    this.release();
    done(e);
  }
}

export async function serve(o: ServeOptions): Promise<Serving> {
  const byName = new Map(o.files.map((f) => [f.name.toLowerCase(), f.local]));
  const isUpload = (name: string) => name.replace(/^.*[\\/]/, '').toLowerCase() === o.uploadName.toLowerCase();
  const textPath = (name: string) => Object.keys(o.texts).find((t) => t.toLowerCase() === name.toLowerCase());
  mkdirSync(o.uploadDir, { recursive: true });
  let active = 0;
  let count = 0;
  /** A new upload: its own name (time, order, way) in uploadDir; refused while too many are under way. */
  const startUpload = (via: 'ftp' | 'http'): UploadSink => {
    if (active >= (o.maxConcurrentUploads ?? 2)) throw new Refused(`${active} traces are being received; send this one again when they are done`);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const final = join(o.uploadDir, `trace-${stamp}-${++count}-${via}.txt`);
    let released = false;
    const sink = new UploadSink(final, o.maxUploadBytes, (path) => o.onUpload(path, via), () => {
      if (!released) active--;
      released = true;
    });
    active++;
    return sink;
  };
  // A CommonJS module: its classes hang off the default export.
  const { FtpSrv, FileSystem, ftpErrors } = ftpModule as unknown as { FtpSrv: typeof FtpServer; FileSystem: typeof FtpFileSystem; ftpErrors: { FileSystemError: new (m: string) => Error } };
  const refuse = () => {
    throw new ftpErrors.FileSystemError('read-only: only the trace may be uploaded');
  };
  const stat = (name: string, local: string): Stats => Object.assign(statSync(local), { name });

  /** One flat, read-only folder: the bundle's files; the trace may be put (each upload kept apart). */
  class BundleFs extends FileSystem {
    override currentDirectory() {
      return '/';
    }
    override async get(name: string) {
      // LIST and NLST without an argument ask about the folder itself (Windows ftp.exe's `dir`).
      if (['', '.', '/', './'].includes(name)) return stat('.', o.uploadDir);
      const local = byName.get(name.replace(/^.*[\\/]/, '').toLowerCase());
      if (!local) throw new ftpErrors.FileSystemError('no such file');
      return stat(name.replace(/^.*[\\/]/, ''), local);
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
    override write(name: string, opts?: { append?: boolean; start?: number }) {
      if (!isUpload(name)) refuse();
      if (opts?.append || opts?.start) throw new ftpErrors.FileSystemError('a trace is sent whole: no appending or restarting');
      try {
        return { stream: startUpload('ftp'), clientPath: `/${o.uploadName}` };
      } catch (e) {
        throw new ftpErrors.FileSystemError(e instanceof Refused ? e.message : 'the trace could not be stored on the serving computer');
      }
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
    // STOU and APPE would store under another name or add to a trace: a trace is put whole, by STOR.
    blacklist: ['DELE', 'RMD', 'MKD', 'XMKD', 'XRMD', 'RNFR', 'RNTO', 'SITE', 'STOU', 'APPE'],
    log: quiet as never,
  });
  ftp.on('login', ({ connection, username, password }: { connection: FtpConnection; username: string; password: string }, resolve: (r: { fs: FtpFileSystem }) => void, reject: (e: Error) => void) => {
    if (!same(username, o.user) || !same(password, o.password)) return reject(new Error('wrong user or password'));
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

  /** Ends a request with a short text answer and drops the rest of its body. */
  const answer = (req: IncomingMessage, res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(`${text}\r\n`);
    req.destroy();
  };

  /**
   * A multipart/form-data POST with one file field, as IE 5's upload form sends it, streamed to
   * disk: only the part's header and the few bytes that may hold the closing boundary are held.
   */
  async function receive(req: IncomingMessage, res: ServerResponse) {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(req.headers['content-type'] ?? '');
    if (!boundary) return answer(req, res, 400, 'send the trace with the form on the first page');
    if (Number(req.headers['content-length'] ?? 0) > o.maxUploadBytes + 65536) return answer(req, res, 413, `a trace is at most ${o.maxUploadBytes / 1048576} MB`);
    const b = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
    const closing = Buffer.concat([Buffer.from('\r\n'), b]);
    let sink: UploadSink;
    try {
      sink = startUpload('http');
    } catch (e) {
      return answer(req, res, 503, e instanceof Refused ? e.message : 'the trace could not be stored on the serving computer');
    }
    const failed = new Promise<never>((_, fail) => sink.once('error', fail));
    failed.catch(() => undefined);
    const put = async (data: Buffer) => {
      if (data.length > 0 && !sink.write(data)) await Promise.race([once(sink, 'drain'), failed]);
    };
    try {
      let head: Buffer | undefined = Buffer.alloc(0);
      let tail = Buffer.alloc(0);
      for await (const c of req as AsyncIterable<Buffer>) {
        let chunk = c;
        if (head) {
          head = Buffer.concat([head, chunk]);
          const at = head.indexOf(b);
          const body = at < 0 ? -1 : head.indexOf('\r\n\r\n', at);
          if (body < 0) {
            if (head.length > 65536) throw new Refused('send the trace with the form on the first page');
            continue;
          }
          chunk = head.subarray(body + 4);
          head = undefined;
        }
        tail = Buffer.concat([tail, chunk]);
        // Hold back what may be the start of the closing boundary.
        const keep = closing.length + 4;
        if (tail.length > keep) {
          await put(tail.subarray(0, tail.length - keep));
          tail = Buffer.from(tail.subarray(tail.length - keep));
        }
      }
      const end = tail.indexOf(closing);
      if (head || end < 0) throw new Refused('send the trace with the form on the first page');
      await put(tail.subarray(0, end));
      await Promise.race([new Promise<void>((ok) => sink.end(ok)), failed]);
    } catch (e) {
      sink.destroy();
      return answer(req, res, e instanceof Refused && /at most/.test(e.message) ? 413 : 400, e instanceof Refused ? e.message : 'the upload did not complete');
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=iso-8859-1' });
    res.end(`<html><body><p>${o.uploadName} received (${sink.bytes} bytes). The verdict appears where retro runs.</p></body></html>`);
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
