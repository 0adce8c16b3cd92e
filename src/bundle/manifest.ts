/**
 * manifest.json: what a bundle holds (every file's size and sha256 and role), what it was built
 * from and for. Written last by the build; read by deploy, run and verify.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputFileError } from '../errors.js';
import type { QuantKind } from '../quant/kinds.js';
import type { KvCacheKind } from '../reference/model.js';
import { MANIFEST_FILE } from './names.js';

export interface ManifestFile {
  name: string;
  bytes: number;
  sha256: string;
  role: string;
}

export interface ManifestModel {
  description: string;
  source: string;
  tokenizer: string | null;
  format: string;
  sourceBytes: number;
  nativeBytes: number;
  quant: QuantKind;
  groupSize: number;
  usedDefault: boolean;
}

export interface Manifest {
  generator: string;
  target: { id: string; name: string; byteOrder: string; alignment: number };
  model: ManifestModel;
  kernels: string[];
  memory: { ramBudgetMb: number; stream: boolean; seqLen: number; kvCache: KvCacheKind };
  files: ManifestFile[];
  binaries: { id: string; status: string; file: string | null; reason: string | null; run: unknown }[];
}

export function writeManifest(bundle: string, manifest: Manifest): void {
  // The manifest stays on the host side of the bundle: it is not subject to the target's file-name rule.
  writeFileSync(join(bundle, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

export function readManifest(bundle: string): Manifest {
  const path = join(bundle, MANIFEST_FILE);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputFileError(`${path}: ${code === 'ENOENT' ? 'no manifest: this is not a retro bundle' : 'the manifest is not valid JSON'}`, 'run retro build --target <id> first, or point --bundle at its output folder');
  }
  const m = data as Partial<Manifest>;
  if (typeof m !== 'object' || m === null || typeof m.target?.id !== 'string' || !Array.isArray(m.files) || !Array.isArray(m.binaries)) {
    throw new InputFileError(`${path}: not a retro manifest (target, files or binaries missing)`, 'build the bundle again with retro build');
  }
  return m as Manifest;
}
