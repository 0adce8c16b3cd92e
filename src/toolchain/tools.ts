/** Finding, running and checking the cross compilers and emulators of a profile. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { execa } from 'execa';
import { ProfileError, ToolchainError } from '../errors.js';
import type { CrossBuild, ImportCheck, Profile } from '../profile/schema.js';

/** The absolute path of a command on PATH, or undefined. Never spawns. */
export function which(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  if (cmd.includes('/')) return cmd;
  for (const dir of path.split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface ToolStatus {
  command: string;
  package: string;
  found: string | undefined;
}

/** Every command a cross build needs here: compiler, emulator, checkers. */
export function toolsFor(build: CrossBuild): ToolStatus[] {
  const tools: ToolStatus[] = [{ command: build.compiler, package: build.package, found: which(build.compiler) }];
  if (build.run?.emulator) tools.push({ command: build.run.emulator, package: build.run.package ?? build.run.emulator, found: which(build.run.emulator) });
  for (const c of build.checks) tools.push({ command: c.objdump, package: build.package, found: which(c.objdump) });
  return tools;
}

/** Process groups of the compilers running now: an interrupted build stops them all (the driver and its cc1, as, ld). */
const compiling = new Set<number>();

/** Kills every compiler under way, with the programs it started; the CLI calls it on SIGINT/SIGTERM. */
export function stopCompilers(): void {
  for (const pid of compiling) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  compiling.clear();
}

export async function compile(build: CrossBuild, source: string, output: string, cwd: string): Promise<void> {
  const args = [...build.flags, '-o', output, source, ...build.libs];
  // Its own process group: killing the driver alone (as execa does on exit) leaves cc1 running. Its
  // temporary files go beside the source (the build's scratch folder), which an interrupt removes.
  const child = execa(build.compiler, args, { cwd, reject: false, all: true, detached: true, env: { TMPDIR: dirname(source) } });
  if (child.pid) compiling.add(child.pid);
  const r = await child.finally(() => child.pid && compiling.delete(child.pid));
  if (r.exitCode !== 0) {
    const first = (r.all ?? '').split('\n').find((l) => /error/.test(l)) ?? (r.all ?? '').split('\n')[0];
    throw new ToolchainError(`${build.compiler} failed to build ${build.output}: ${first}`, `run the command by hand in ${cwd}: ${build.compiler} ${args.join(' ')}`);
  }
}

/** Imports of a PE executable, read with objdump -p: DLL -> functions. */
export async function peImports(objdump: string, exe: string): Promise<Map<string, string[]>> {
  const r = await execa(objdump, ['-p', exe], { reject: false });
  if (r.exitCode !== 0) throw new ToolchainError(`${objdump} -p ${exe} failed: ${r.stderr.split('\n')[0]}`, 'install binutils for the target');
  const out = new Map<string, string[]>();
  let dll: string | undefined;
  for (const line of r.stdout.split('\n')) {
    const d = /^\s*DLL Name: (\S+)/.exec(line);
    if (d) {
      dll = d[1];
      out.set(dll, []);
      continue;
    }
    const f = /^\s+[0-9a-f]+\s+[0-9a-f]+\s+(\S+)\s*$/i.exec(line);
    if (dll && f) out.get(dll)!.push(f[1]);
    if (/^\s*$/.test(line)) dll = undefined;
  }
  return out;
}

export interface CheckResult {
  kind: string;
  ok: boolean;
  detail: string;
}

type Checker = (check: ImportCheck, binary: string, profile: Profile) => Promise<CheckResult>;

/** Binary checks by kind; a profile names the kind and supplies the data. */
export const CHECKS: Record<ImportCheck['kind'], Checker> = {
  'pe-imports': async (check, binary, profile) => {
    if (!profile.os.imports) throw new ProfileError(`target ${profile.id}: a pe-imports check needs os.imports (the DLL functions the OS has)`, 'extend an OS base that lists them, e.g. "extends": "base-win98"');
    const imports = await peImports(check.objdump, binary);
    const allowed = new Map(Object.entries(profile.os.imports).map(([k, v]) => [k.toLowerCase(), new Set(v)]));
    const bad: string[] = [];
    let count = 0;
    for (const [dll, fns] of imports) {
      const ok = allowed.get(dll.toLowerCase());
      if (!ok) bad.push(`${dll} (whole DLL)`);
      for (const fn of fns) {
        count++;
        if (ok && !ok.has(fn)) bad.push(`${dll}!${fn}`);
      }
    }
    return {
      kind: 'pe-imports',
      ok: bad.length === 0 && count > 0,
      detail: bad.length === 0 ? `${count} imports from ${[...imports.keys()].join(', ')}, all on the allowlist` : `not on the target's allowlist: ${bad.join(', ')}`,
    };
  },
};

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
}

/** Runs a built engine the way the profile says: directly, under qemu, or under wine. */
const emulatorChecks = new Map<string, string | undefined>();

/**
 * Why an installed emulator cannot run anything here, or undefined when `<emulator> --version`
 * works: wine is a 32-bit x86 program, which a kernel built without IA32 emulation refuses
 * ("Exec format error") however the packages are installed.
 */
export function emulatorProblem(emulator: string): string | undefined {
  if (!emulatorChecks.has(emulator)) {
    const r = spawnSync(emulator, ['--version'], { encoding: 'utf8', timeout: 60_000 });
    const said = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').pop() ?? '';
    const problem = r.status === 0 ? undefined : /exec format error/i.test(said) ? `${emulator} cannot start: this kernel cannot execute 32-bit x86 programs (no IA32 emulation)` : `${emulator} --version failed: ${said || `exit ${r.status}`}`;
    emulatorChecks.set(emulator, problem);
  }
  return emulatorChecks.get(emulator);
}

/**
 * Emulators whose server is worth keeping up between runs: wine's server and its services take about
 * 2.5 s to start, and by default stop 3 s after the last program. Started for 30 s past the last
 * program, it exits by itself (never killed: other programs may be using the same prefix).
 */
const WARM_SERVERS: Record<string, string[]> = { wine: ['wineserver', '-p30'] };

/** Starts the emulator's server unless one runs already (a no-op for emulators without one). */
export async function keepEmulatorWarm(emulator: string, env: Record<string, string> = {}): Promise<void> {
  const server = WARM_SERVERS[emulator];
  if (server && which(server[0])) await execa(server[0], server.slice(1), { env, reject: false, stdio: 'ignore' });
}

export async function runBinary(build: CrossBuild, binary: string, args: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult> {
  const emu = build.run?.emulator ?? '';
  await keepEmulatorWarm(emu, { ...build.run?.env, ...opts.env });
  const cmd = emu === '' ? binary : emu;
  const argv = emu === '' ? args : [...(build.run?.args ?? []), binary, ...args];
  const r = await execa(cmd, argv, {
    cwd: opts.cwd,
    env: { ...build.run?.env, ...opts.env },
    reject: false,
    encoding: 'buffer',
    stripFinalNewline: false,
    timeout: opts.timeoutMs ?? 600_000,
  });
  return { stdout: Buffer.from(r.stdout as Uint8Array), stderr: Buffer.from(r.stderr as Uint8Array).toString('utf8'), exitCode: r.exitCode ?? -1 };
}
