/**
 * `retro deploy`: upload a built bundle to the real machine. Every file goes to a temporary
 * name, resumes where an interrupted run stopped, is checked against the manifest and only
 * then renamed, so no file ever sits under its final name with wrong content.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputFileError } from '../errors.js';
import { sha256File } from '../bundle/hash.js';
import { readManifest } from '../bundle/manifest.js';
import { deployFiles, type DeployEvent, type DeployFile, type DeployOptions, type DeployResult } from '../transport/deploy.js';
import { resolveRemote, type Remote, type RemoteRequest, type Secrets } from '../transport/remote.js';

export interface DeployRequest extends RemoteRequest, DeployOptions {
  bundle?: string;
}

export interface DeployOutcome extends DeployResult {
  machine: string;
  protocol: string;
  remoteDir: string;
  files: DeployFile[];
}

/**
 * The files the real machine needs: sources, build scripts, model, README, and the binaries
 * that run on the machine itself (not the emulated stand-ins). Each is checked against the manifest.
 */
export async function bundleFiles(remote: Remote, bundle: string): Promise<DeployFile[]> {
  const manifest = readManifest(bundle);
  if (manifest.target?.id !== remote.profile.id) {
    throw new InputFileError(`${bundle}: the bundle was built for ${manifest.target?.id}, not ${remote.profile.id}`, `build it with retro build --target ${remote.profile.id}, or pass the right --bundle`);
  }
  const onMachine = new Set(remote.profile.cross.filter((c) => c.deploy).map((c) => c.output));
  const files: DeployFile[] = [];
  for (const f of manifest.files) {
    if (f.role.startsWith('binary:') && !onMachine.has(f.name)) continue;
    const local = join(bundle, f.name);
    if (!existsSync(local) || (await sha256File(local)) !== f.sha256) {
      throw new InputFileError(`${local}: missing or changed since the bundle was built`, `rebuild the bundle with retro build --target ${remote.profile.id}`);
    }
    files.push({ name: f.name, local, bytes: f.bytes, sha256: f.sha256, executable: f.role.startsWith('binary:') });
  }
  return files;
}

export async function runDeploy(req: DeployRequest, secrets: Secrets, onEvent: (e: DeployEvent) => void = () => {}): Promise<DeployOutcome> {
  const remote = await resolveRemote(req, secrets);
  const bundle = resolve(req.bundle ?? remote.bundle ?? join('dist', remote.profile.id));
  const files = await bundleFiles(remote, bundle);
  const t = await remote.connect();
  try {
    const r = await deployFiles(t, files, remote.remoteDir, remote.profile.os.fileNames, onEvent, { check: req.check, force: req.force, dryRun: req.dryRun });
    return { ...r, machine: remote.name, protocol: remote.protocolName, remoteDir: remote.remoteDir, files };
  } finally {
    t.close();
  }
}
