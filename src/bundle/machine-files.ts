/**
 * The files the real machine needs from a bundle: sources, build scripts, model, README, and the
 * binaries that run on the machine itself (not the emulated stand-ins). What deploy sends and
 * serve offers; each is checked against the manifest first.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputFileError } from '../errors.js';
import type { Profile } from '../profile/schema.js';
import type { DeployFile } from '../transport/deploy.js';
import { sha256File } from './hash.js';
import { readManifest } from './manifest.js';

/** A file as deploy sends it and serve offers it. */
export type MachineFile = DeployFile;

export async function machineFiles(profile: Profile, bundle: string): Promise<MachineFile[]> {
  const manifest = readManifest(bundle);
  if (manifest.target?.id !== profile.id) {
    throw new InputFileError(`${bundle}: the bundle was built for ${manifest.target?.id}, not ${profile.id}`, `build it with retro build --target ${profile.id}, or pass the right --bundle`);
  }
  const onMachine = new Set(profile.cross.filter((c) => c.deploy).map((c) => c.output));
  const files: MachineFile[] = [];
  for (const f of manifest.files) {
    if (f.role.startsWith('binary:') && !onMachine.has(f.name)) continue;
    const local = join(bundle, f.name);
    if (!existsSync(local) || (await sha256File(local)) !== f.sha256) {
      throw new InputFileError(`${local}: missing or changed since the bundle was built`, `rebuild the bundle with retro build --target ${profile.id}`);
    }
    files.push({ name: f.name, local, bytes: f.bytes, sha256: f.sha256, executable: f.role.startsWith('binary:') });
  }
  return files;
}
