/**
 * `retro run --via ssh`: run the deployed engine on the real machine, stream its output live,
 * and (with a trace) bring the trace back and hand it to verify.
 * `retro fetch`: download a file the engine wrote on a machine where nothing runs remotely.
 */
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { basename, join, resolve } from 'node:path';
import { ToolchainError, TransportError, UsageError } from '../errors.js';
import { engineProgram } from '../bundle/engine-program.js';
import { readManifest } from '../bundle/manifest.js';
import { MODEL_FILE, tracesDir } from '../bundle/names.js';
import { engineArgs } from '../codegen/engine-args.js';
import { machineEntry, resolveRemote, type RemoteRequest, type Secrets } from '../transport/remote.js';
import { shellQuote } from '../transport/ssh.js';
import type { Transport } from '../transport/types.js';
import { bundleReference, forcedTokens, traceSteps, verifyTrace, writeReport, type VerifyMode, type VerifyVerdict } from '../verify/bundle.js';
import { encodePrompt } from '../model/inputs.js';
import { Tokenizer } from '../reference/tokenizer.js';

export interface RunRequest extends RemoteRequest {
  bundle?: string;
  temperature: number;
  topp: number;
  seed?: bigint;
  steps: number;
  prompt: Uint8Array;
  /** Write a trace on the machine, fetch it and verify it against the reference. */
  trace: boolean;
  /** With a trace: free-running, teacher-forced (the reference's tokens sent as forced.txt), or both. */
  modes?: VerifyMode[];
  /** Engine flags given after `--`, passed through as they are. */
  engineFlags?: string[];
}

export interface RunOutcome {
  exitCode: number;
  traceFiles: string[];
  verify?: VerifyVerdict;
}

export const REMOTE_TRACE = 'trace.txt';
const REMOTE_FORCED = 'forced.txt';

/** Downloads to a temporary name and renames when complete: a failed fetch leaves nothing behind. */
export async function download(t: Transport, remotePath: string, localPath: string, machine: string): Promise<number> {
  const bytes = await t.size(remotePath);
  if (bytes === undefined) throw new TransportError(`${machine}: ${remotePath} does not exist`, 'check the file name and the remote directory (--remote-dir)');
  const partial = `${localPath}.partial`;
  const out = createWriteStream(partial);
  // What is reported is what was written; more than the server's size is not written at all.
  let written = 0;
  let received = 0;
  try {
    await t.download(remotePath, (chunk) => {
      received += chunk.length;
      if (received > bytes) return;
      out.write(chunk);
      written += chunk.length;
    });
    await new Promise<void>((ok, fail) => out.end((e?: Error | null) => (e ? fail(e) : ok())));
    if (received !== bytes) {
      throw new TransportError(`${machine}: ${remotePath} is ${bytes} bytes by the server's size, but ${received > bytes ? 'more' : received} bytes came`, 'fetch it again; if it still differs, the file is changing on the machine (wait until the engine has finished writing it)');
    }
    renameSync(partial, localPath);
  } catch (e) {
    out.destroy();
    rmSync(partial, { force: true });
    throw e;
  }
  return written;
}

/** How the user named the machine, to repeat in a suggested command: its name, else the target and bundle. */
function machineWords(req: RemoteRequest & { bundle?: string }, target: string): string {
  if (req.machine !== undefined) return shellQuote(req.machine) + (req.config ? ` --config ${shellQuote(req.config)}` : '');
  return `--target ${shellQuote(target)}${req.bundle ? ` --bundle ${shellQuote(req.bundle)}` : ''}`;
}

export async function runRemote(req: RunRequest, secrets: Secrets, output: { stdout: (b: Uint8Array) => void; stderr: (b: Uint8Array) => void }, progress: (m: string) => void = () => {}): Promise<RunOutcome> {
  const remote = await resolveRemote(req, secrets);
  if (!remote.canExec) {
    throw new UsageError(`${remote.protocolName} cannot run programs on ${remote.name}`, 'run the engine at the machine, then bring its trace back with retro fetch and check it with retro verify --trace');
  }
  const bundle = resolve(req.bundle ?? remote.bundle ?? join('dist', remote.profile.id));
  const manifest = readManifest(bundle);
  const { program, makefile } = engineProgram(remote.profile, manifest, bundle, shellQuote);
  const dir = remote.remoteDir.replace(/\/$/, '');
  const ref = req.trace ? bundleReference(remote.profile, bundle, progress) : undefined;
  const steps = ref ? traceSteps(ref, req.steps) : req.steps;
  const modes: (VerifyMode | undefined)[] = req.trace ? (req.modes ?? ['free']) : [undefined];
  const t = await remote.connect();
  let exitCode = 0;
  const traces: { file: string; label: string }[] = [];
  try {
    // Checked here, not left to the shell: `cd` into a missing folder says nothing a person can act on.
    const needed = [MODEL_FILE, makefile ?? program];
    const missing: string[] = [];
    for (const name of needed) if ((await t.size(`${dir}/${name}`)) === undefined) missing.push(name);
    if (missing.length > 0) {
      const what = missing.length === needed.length ? `nothing deployed at ${remote.name}:${remote.remoteDir}` : `${remote.name}:${remote.remoteDir} has no ${missing.join(' or ')}`;
      throw new TransportError(what, `deploy the bundle first: retro deploy ${machineWords(req, remote.profile.id)} (with the same connection flags), then run again`);
    }
    if (makefile) {
      progress(`building ${program} on ${remote.name} with make`);
      const made = await t.exec!(`cd ${shellQuote(remote.remoteDir)} && make -f ${shellQuote(makefile)} >&2`, output.stderr, output.stderr);
      if (made !== 0) throw new ToolchainError(`make failed on ${remote.name} (exit ${made}): ${program} was not built there, so nothing ran`, `read make's messages above; the machine needs the C compiler its ${makefile} names`);
    }
    for (const mode of modes) {
      const remoteTrace = mode === 'forced' ? `trace-tf.txt` : REMOTE_TRACE;
      const common = { model: MODEL_FILE, steps, trace: mode ? remoteTrace : undefined, extra: req.engineFlags };
      if (mode === 'forced') {
        const tokens = forcedTokens(ref!, encodePrompt(new Tokenizer(ref!.vocab), req.prompt, ref!.config.seqLen), steps);
        await t.write(Readable.from([Buffer.from(tokens)]), `${dir}/${REMOTE_FORCED}`, 0, () => {});
      }
      const args = engineArgs(mode === 'forced' ? { ...common, forced: REMOTE_FORCED } : { ...common, temperature: req.temperature, topp: req.topp, seed: req.seed, prompt: req.prompt });
      const command = `cd ${shellQuote(remote.remoteDir)} && ./${program} ${args.map(shellQuote).join(' ')}`;
      progress(`running ${program} on ${remote.name}${mode ? ` (${mode})` : ''}`);
      exitCode = await t.exec!(command, output.stdout, output.stderr);
      if (exitCode !== 0 || !mode) break;
      mkdirSync(tracesDir(bundle), { recursive: true });
      const file = join(tracesDir(bundle), `trace-${remote.name.replace(/[^A-Za-z0-9_.-]/g, '_')}${mode === 'forced' ? '-forced' : ''}.txt`);
      progress(`fetching ${remoteTrace} -> ${file}`);
      await download(t, `${dir}/${remoteTrace}`, file, remote.name);
      traces.push({ file, label: `trace ${basename(file)}` });
    }
  } finally {
    t.close();
  }
  if (!ref || traces.length === 0) return { exitCode, traceFiles: traces.map((x) => x.file) };
  const runs = traces.map((x) => verifyTrace(ref, x.file, x.label, progress));
  const verify = { profile: remote.profile, bundle, runs, skipped: [], report: writeReport(ref, runs), pass: runs.every((r) => r.result.pass) };
  return { exitCode, traceFiles: traces.map((x) => x.file), verify };
}

export interface FetchRequest extends RemoteRequest {
  bundle?: string;
  /** Default: the trace the README tells the person at the machine to write (TRACE.TXT on 8.3 machines). */
  file?: string;
  out?: string;
}

export interface FetchOutcome {
  local: string;
  bytes: number;
  machine: string;
  file: string;
  /** The command that checks what came back, ready to paste. */
  verifyCommand: string;
}

export async function runFetch(req: FetchRequest, secrets: Secrets): Promise<FetchOutcome> {
  const remote = await resolveRemote(req, secrets);
  const file = req.file ?? (remote.profile.os.fileNames === '8.3' ? REMOTE_TRACE.toUpperCase() : REMOTE_TRACE);
  const name = file.split(/[\\/]/).pop()!;
  if (name === '' || name === '.' || name === '..') throw new UsageError(`--file ${JSON.stringify(file)} names a folder, not a file`, 'name the file itself, e.g. --file dir/TRACE.TXT');
  const local = resolve(req.out ?? name);
  const remotePath = file.includes('/') ? file : `${remote.remoteDir.replace(/\/$/, '')}/${file}`;
  const t = await remote.connect();
  try {
    const bytes = await download(t, remotePath, local, remote.name);
    return { local, bytes, machine: remote.name, file, verifyCommand: `retro verify ${machineWords(req, remote.profile.id)} --trace ${shellQuote(local)}` };
  } finally {
    t.close();
  }
}

/** The target and bundle a named machine stands for (`retro verify MACHINE --trace F`). */
export function machineTarget(req: Pick<RemoteRequest, 'machine' | 'config' | 'target'>): { target?: string; bundle?: string } {
  const m = machineEntry(req);
  return { target: req.target ?? m.target, bundle: m.bundle };
}
