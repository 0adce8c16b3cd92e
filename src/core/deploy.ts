/**
 * `retro deploy`: upload a built bundle to the real machine. Every file goes to a temporary
 * name, resumes where an interrupted run stopped, is checked against the manifest and only
 * then renamed, so no file ever sits under its final name with wrong content.
 */
import { join, resolve } from 'node:path';
import { machineFiles } from '../bundle/machine-files.js';
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

export async function runDeploy(req: DeployRequest, secrets: Secrets, onEvent: (e: DeployEvent) => void = () => {}): Promise<DeployOutcome> {
  const remote = await resolveRemote(req, secrets);
  const bundle = resolve(req.bundle ?? remote.bundle ?? join('dist', remote.profile.id));
  const files = await machineFiles(remote.profile, bundle);
  const t = await remote.connect();
  try {
    const r = await deployFiles(t, files, remote.remoteDir, remote.profile.os.fileNames, onEvent, { check: req.check, force: req.force, dryRun: req.dryRun });
    return { ...r, machine: remote.name, protocol: remote.protocolName, remoteDir: remote.remoteDir, files };
  } finally {
    t.close();
  }
}
