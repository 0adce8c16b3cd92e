/**
 * `retro serve`: the bundle offered on the LAN for a machine that pulls it (ftp.exe or Internet
 * Explorer on Windows 98), with the exact commands for the person at the machine, and the trace
 * it sends back verified the moment it arrives.
 */
import { randomInt } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { machineFiles } from '../bundle/machine-files.js';
import { MODEL_FILE, tracesDir } from '../bundle/names.js';
import { engineArgs } from '../codegen/engine-args.js';
import { UsageError } from '../errors.js';
import { loadProfile } from '../profile/load.js';
import type { Profile } from '../profile/schema.js';
import { machineEntry } from '../transport/remote.js';
import { serve, type Serving } from '../transport/serve.js';
import { bundleReference, verifyTrace, writeReport, type BundleReference, type VerifyVerdict } from '../verify/bundle.js';
import { MAX_TRACE_BYTES } from '../verify/trace.js';

export interface ServeRequest {
  machine?: string;
  config?: string;
  target?: string;
  targetsDir?: string;
  bundle?: string;
  /** The address to serve on; default the first LAN (non-loopback IPv4) address. */
  address?: string;
  ftpPort: number;
  httpPort: number;
  /** The run the person at the machine is told to do (and the trace is checked against). */
  steps: number;
  prompt: string;
}

export interface ServeSession {
  profile: Profile;
  bundle: string;
  address: string;
  ftpPort: number;
  httpPort: number;
  user: string;
  /** One-time: a new one each start, printed for the person at the machine. */
  password: string;
  files: { name: string; bytes: number; sha256: string }[];
  /** ftp.exe scripts: `ftp -n -s:GET.TXT` fetches every file, `ftp -n -s:PUT.TXT` sends the trace. */
  getTxt: string;
  putTxt: string;
  /** What to type at the machine, line by line. */
  instructions: string[];
  /** Where each uploaded trace is kept, under its own name (beside the bundle: a rebuild keeps them). */
  traces: string;
  /** The largest upload taken: the largest trace verify reads. */
  maxUploadBytes: number;
  close(): Promise<void>;
}

export const SERVE_USER = 'retro';
export const UPLOAD_NAME = 'TRACE.TXT';

/** The first LAN address: never 0.0.0.0 unless the user names it. */
function lanAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new UsageError('this computer has no LAN (non-loopback IPv4) address', 'connect it to the network the old machine is on, or pass --address');
}

/** Easy to read aloud and type on an old keyboard: no 0/O, 1/l/I. */
function oneTimePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  return Array.from({ length: 10 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

export async function runServe(req: ServeRequest, onVerdict: (v: VerifyVerdict, via: string, trace: string) => void, onError: (e: Error) => void, progress: (m: string) => void = () => {}): Promise<ServeSession> {
  const m = machineEntry(req);
  const target = req.target ?? m.target;
  if (!target) throw new UsageError('no target given', 'pass --target <id>, or name a machine from retro.config.json');
  const profile = loadProfile(target, req.targetsDir);
  const bundle = resolve(req.bundle ?? m.bundle ?? join('dist', profile.id));
  const files = await machineFiles(profile, bundle);
  const address = req.address ?? lanAddress();
  if (address === '0.0.0.0') progress('serving on every address of this computer (0.0.0.0), as asked');
  const password = oneTimePassword();
  const crlf = (lines: string[]) => `${lines.join('\r\n')}\r\n`;
  const login = [`open ${address} ${req.ftpPort}`, `user ${SERVE_USER} ${password}`, 'binary'];
  const getTxt = crlf([...login, ...files.map((f) => `get ${f.name}`), 'bye']);
  const putTxt = crlf([...login, `put ${UPLOAD_NAME}`, 'bye']);
  const program = profile.cross.find((c) => c.deploy && files.some((f) => f.name === c.output))?.output;
  const dos = profile.os.fileNames === '8.3';
  const args = engineArgs({ model: MODEL_FILE, temperature: 0, steps: req.steps, prompt: new TextEncoder().encode(req.prompt), trace: UPLOAD_NAME });
  const quoted = args.map((a) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '')}"` : a)).join(' ');
  const instructions = [
    `at the machine, in an empty folder:`,
    `  1. fetch the files: ftp -n -s:GET.TXT   (GET.TXT is below; or save it from http://${address}:${req.httpPort}/GET.TXT)`,
    program ? `  2. run: ${dos ? '' : './'}${program} ${quoted}` : `  2. build with the bundle's script for the machine, then run the engine: ${quoted}`,
    `  3. send the trace back: ftp -n -s:PUT.TXT   (or with the form on the web page)`,
    `or in Internet Explorer: http://${address}:${req.httpPort}/  (user ${SERVE_USER}, password ${password})`,
    `ftp: ${address} port ${req.ftpPort}, user ${SERVE_USER}, password ${password}; ftp.exe uses active mode (PORT): allow incoming connections from ${address}`,
  ];
  const traces = tracesDir(bundle);
  let ref: BundleReference | undefined;
  const serving: Serving = await serve({
    address,
    ftpPort: req.ftpPort,
    httpPort: req.httpPort,
    user: SERVE_USER,
    password,
    files,
    uploadName: UPLOAD_NAME,
    uploadDir: traces,
    maxUploadBytes: MAX_TRACE_BYTES,
    texts: { 'GET.TXT': getTxt, 'PUT.TXT': putTxt },
    onUpload(path, via) {
      try {
        progress(`${UPLOAD_NAME} arrived over ${via}, kept as ${path}; verifying`);
        ref ??= bundleReference(profile, bundle, progress);
        const runs = [verifyTrace(ref, path, `${UPLOAD_NAME} (over ${via}, ${basename(path)})`, progress)];
        onVerdict({ profile, bundle, runs, skipped: [], report: writeReport(ref, runs), pass: runs.every((r) => r.result.pass) }, via, path);
      } catch (e) {
        onError(e as Error);
      }
    },
  });
  return { profile, bundle, address, ftpPort: req.ftpPort, httpPort: req.httpPort, user: SERVE_USER, password, files: files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })), getTxt, putTxt, instructions, traces, maxUploadBytes: MAX_TRACE_BYTES, close: () => serving.close() };
}
