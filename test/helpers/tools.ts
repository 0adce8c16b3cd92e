/**
 * Tests that need a cross compiler or emulator. In CI (RETRO_REQUIRE_TOOLCHAINS=1)
 * a missing tool fails the test; on a developer's machine it is skipped with the reason printed.
 * An installed emulator the kernel cannot start (wine where the kernel has no IA32 emulation) is
 * skipped with its reason in CI too: no package fixes it.
 */
import type { CrossBuild, Profile } from '../../src/profile/schema.js';
import { emulatorProblem, which } from '../../src/toolchain/tools.js';

const EMULATOR = /^(wine|qemu-)/;
const KERNEL = /no IA32 emulation/;
const warned = new Set<string>();

export function haveTools(...cmds: string[]): boolean {
  const missing = cmds.filter((c) => !which(c));
  const require = process.env.RETRO_REQUIRE_TOOLCHAINS !== undefined;
  if (missing.length > 0) {
    if (require) throw new Error(`required tools missing: ${missing.join(', ')} (run scripts/install-toolchains.sh)`);
    console.warn(`skipping: ${missing.join(', ')} not installed (retro doctor --install)`);
    return false;
  }
  const problems = cmds.filter((c) => EMULATOR.test(c)).flatMap((c) => emulatorProblem(c) ?? []);
  if (problems.length === 0) return true;
  if (require && !problems.every((p) => KERNEL.test(p))) throw new Error(`required emulators do not run: ${problems.join('; ')}`);
  console.warn(`skipping: ${problems.join('; ')}`);
  return false;
}

/**
 * The profile's cross builds this machine can run: all of them but those whose emulator the kernel
 * cannot start (said once per emulator); undefined (skip) where haveTools says a tool is missing.
 */
export function runnableBuilds(profile: Profile): CrossBuild[] | undefined {
  const refused = (b: CrossBuild) => (b.run?.emulator && which(b.run.emulator) && KERNEL.test(emulatorProblem(b.run.emulator) ?? '') ? b.run.emulator : undefined);
  const builds = profile.cross.filter((b) => !refused(b));
  for (const e of new Set(profile.cross.flatMap((b) => refused(b) ?? []))) {
    if (warned.has(e)) continue;
    warned.add(e);
    console.warn(`skipping the builds run by ${e}: ${emulatorProblem(e)}`);
  }
  if (!haveTools(...profile.cross.map((b) => b.compiler), ...builds.flatMap((b) => (b.run?.emulator ? [b.run.emulator] : [])))) return undefined;
  return builds;
}

/** Whether this kernel executes 32-bit x86 programs natively; wine's loader is one, so its probe tells. */
export function kernelRunsI386(): boolean {
  return !(which('wine') && KERNEL.test(emulatorProblem('wine') ?? ''));
}
