/**
 * `retro run --via ssh`: run the deployed engine on the real machine, stream its output live,
 * and (with a trace) bring the trace back and hand it to verify.
 * `retro fetch`: download a file the engine wrote on a machine where nothing runs remotely.
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TransportError, UsageError } from '../errors.js';
import { readManifest } from '../bundle/manifest.js';
import { MODEL_FILE } from '../bundle/names.js';
import { engineArgs } from '../codegen/engine-args.js';
import { resolveRemote, type RemoteRequest, type Secrets } from '../transport/remote.js';
import { shellQuote } from '../transport/ssh.js';
import type { Transport } from '../transport/types.js';
import { bundleReference, verifyTrace, writeReport, type VerifyVerdict } from '../verify/bundle.js';

export interface RunRequest extends RemoteRequest {
  bundle?: string;
  temperature: number;
  topp: number;
  seed?: bigint;
  steps: number;
  prompt: Uint8Array;
  /** Write a trace on the machine, fetch it and verify it against the reference. */
  trace: boolean;
}

export interface RunOutcome {
  exitCode: number;
  traceFile?: string;
  verify?: VerifyVerdict;
}

export const REMOTE_TRACE = 'trace.txt';

/** Downloads to a temporary name and renames when complete: a failed fetch leaves nothing behind. */
async function download(t: Transport, remotePath: string, localPath: string, machine: string): Promise<number> {
  const bytes = await t.size(remotePath);
  if (bytes === undefined) throw new TransportError(`${machine}: ${remotePath} does not exist`, 'check the file name and the remote directory (--remote-dir)');
  const partial = `${localPath}.partial`;
  const out = createWriteStream(partial);
  try {
    await t.download(remotePath, (chunk) => out.write(chunk));
    await new Promise<void>((ok, fail) => out.end((e?: Error | null) => (e ? fail(e) : ok())));
    renameSync(partial, localPath);
  } catch (e) {
    out.destroy();
    rmSync(partial, { force: true });
    throw e;
  }
  return bytes;
}

export async function runRemote(req: RunRequest, secrets: Secrets, output: { stdout: (b: Uint8Array) => void; stderr: (b: Uint8Array) => void }, progress: (m: string) => void = () => {}): Promise<RunOutcome> {
  const remote = await resolveRemote(req, secrets);
  if (!remote.canExec) {
    throw new UsageError(`${remote.protocolName} cannot run programs on ${remote.name}`, 'run the engine at the machine, then bring its trace back with retro fetch and check it with retro verify --trace');
  }
  const bundle = resolve(req.bundle ?? remote.bundle ?? join('dist', remote.profile.id));
  const manifest = readManifest(bundle);
  // A binary built here for the machine itself, else the machine builds with its own compiler.
  const binary = remote.profile.cross.find((c) => c.deploy && manifest.files.some((f) => f.name === c.output))?.output;
  const native = remote.profile.toolchains.find((tc) => tc.script === 'makefile');
  if (!binary && !native) throw new UsageError(`${bundle} has no binary for ${remote.profile.id} and no Makefile to build one`, `deploy a bundle built with retro build --target ${remote.profile.id}`);
  const args = engineArgs({ model: MODEL_FILE, temperature: req.temperature, topp: req.topp, seed: req.seed, steps: req.steps, prompt: req.prompt, trace: req.trace ? REMOTE_TRACE : undefined });
  const program = binary ?? native!.output;
  const build = binary ? '' : `make -f ${shellQuote(native!.file)} >&2 && `;
  const command = `cd ${shellQuote(remote.remoteDir)} && ${build}./${program} ${args.map(shellQuote).join(' ')}`;
  const t = await remote.connect();
  let exitCode: number;
  let traceFile: string | undefined;
  try {
    progress(`running ${program} on ${remote.name}`);
    exitCode = await t.exec!(command, output.stdout, output.stderr);
    if (exitCode === 0 && req.trace) {
      traceFile = join(bundle, `trace-${remote.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.txt`);
      progress(`fetching ${REMOTE_TRACE} -> ${traceFile}`);
      await download(t, `${remote.remoteDir.replace(/\/$/, '')}/${REMOTE_TRACE}`, traceFile, remote.name);
    }
  } finally {
    t.close();
  }
  if (!traceFile) return { exitCode };
  const ref = bundleReference(remote.profile, bundle, progress);
  const runs = [verifyTrace(ref, traceFile, `trace ${basename(traceFile)}`, progress)];
  const verify = { profile: remote.profile, bundle, runs, skipped: [], report: writeReport(ref, runs), pass: runs.every((r) => r.result.pass) };
  return { exitCode, traceFile, verify };
}

export interface FetchRequest extends RemoteRequest {
  file: string;
  out?: string;
}

export async function runFetch(req: FetchRequest, secrets: Secrets): Promise<{ local: string; bytes: number; machine: string }> {
  const remote = await resolveRemote(req, secrets);
  const name = req.file.split(/[\\/]/).pop()!;
  const local = resolve(req.out ?? name);
  const remotePath = req.file.includes('/') ? req.file : `${remote.remoteDir.replace(/\/$/, '')}/${req.file}`;
  const t = await remote.connect();
  try {
    const bytes = await download(t, remotePath, local, remote.name);
    return { local, bytes, machine: remote.name };
  } finally {
    t.close();
  }
}
