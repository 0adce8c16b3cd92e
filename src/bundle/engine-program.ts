/**
 * How a deployed bundle's engine is started on the machine itself: a binary built here for the
 * machine (a cross build that deploys), else the machine builds it with its own Makefile first.
 */
import { UsageError } from '../errors.js';
import type { Profile } from '../profile/schema.js';
import type { Manifest } from './manifest.js';

export interface EngineProgram {
  /** The program's file name in the remote folder. */
  program: string;
  /** The shell prefix that builds it there first ('' when it comes built). */
  build: string;
  /** The Makefile that builds it there, when no binary comes built. */
  makefile?: string;
}

export function engineProgram(profile: Profile, manifest: Manifest, bundle: string, quote: (s: string) => string): EngineProgram {
  const binary = profile.cross.find((c) => c.deploy && manifest.files.some((f) => f.name === c.output))?.output;
  const native = profile.toolchains.find((tc) => tc.script === 'makefile');
  if (!binary && !native) throw new UsageError(`${bundle} has no binary for ${profile.id} and no Makefile to build one`, `deploy a bundle built with retro build --target ${profile.id}`);
  if (binary) return { program: binary, build: '' };
  return { program: native!.output, build: `make -f ${quote(native!.file)} >&2 && `, makefile: native!.file };
}
