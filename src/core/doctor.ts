/** `retro doctor`: which cross compilers and emulators each target needs, and which are here. */
import { execa } from 'execa';
import { ToolchainError } from '../errors.js';
import { listProfiles } from '../profile/load.js';
import { toolsFor, which, type ToolStatus } from '../toolchain/tools.js';

export interface DoctorRow {
  target: string;
  build: string;
  tools: ToolStatus[];
}

export function runDoctor(targetsDir?: string): DoctorRow[] {
  return listProfiles(targetsDir).flatMap((p) => p.cross.map((b) => ({ target: p.id, build: b.id, tools: toolsFor(b) })));
}

export function missingPackages(rows: DoctorRow[]): string[] {
  const pkgs = new Set<string>();
  for (const r of rows) for (const t of r.tools) if (!t.found) for (const p of t.package.split(/\s+/)) pkgs.add(p);
  return [...pkgs].sort();
}

/** apt-get install of the missing packages (root and apt needed); wine32 needs the i386 architecture. */
export async function installPackages(pkgs: string[], isRoot: boolean, log: (line: string) => void): Promise<void> {
  if (pkgs.length === 0) return;
  if (!which('apt-get')) throw new ToolchainError('apt-get is not available here', `install by hand: ${pkgs.join(' ')}`);
  if (!isRoot) throw new ToolchainError('installing packages needs root', `run as root, or: sudo apt-get install ${pkgs.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  if (pkgs.includes('wine32')) await execa('dpkg', ['--add-architecture', 'i386']);
  log('apt-get update');
  await execa('apt-get', ['update', '-q'], { env, reject: false });
  log(`apt-get install ${pkgs.join(' ')}`);
  const r = await execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, reject: false, all: true });
  if (r.exitCode !== 0) throw new ToolchainError(`apt-get install failed: ${(r.all ?? '').split('\n').filter((l) => l.startsWith('E:'))[0] ?? r.exitCode}`, 'run the apt-get command by hand to see why');
}
