/**
 * Tests that need a cross compiler, an emulator or a LAN address. A test that cannot run here is skipped
 * with its reason (vitest's ctx.skip: reported as skipped, never as passed). In CI
 * (RETRO_REQUIRE_TOOLCHAINS=1) every skip is a failure, unless RETRO_ALLOW_SKIPS (comma-separated)
 * names its kind: `ia32` (the kernel cannot execute 32-bit x86 programs, so wine cannot start: no
 * package fixes it) or `lan` (the machine has no non-loopback IPv4 address). A missing tool is never
 * allowed: install it.
 */
import { networkInterfaces } from 'node:os';
import type { TestContext } from 'vitest';
import type { CrossBuild, Profile } from '../../src/profile/schema.js';
import { emulatorProblem, which } from '../../src/toolchain/tools.js';

export type SkipKind = 'tool' | 'ia32' | 'lan';
export interface Skip {
  kind: SkipKind;
  reason: string;
}

const EMULATOR = /^(wine|qemu-)/;
const KERNEL = /no IA32 emulation/;
const said = new Set<string>();

function required(): boolean {
  return process.env.RETRO_REQUIRE_TOOLCHAINS !== undefined;
}

/** Whether CI lets a skip of this kind pass: only where RETRO_ALLOW_SKIPS names it. */
export function skipAllowed(kind: SkipKind): boolean {
  if (!required()) return true;
  return kind !== 'tool' && (process.env.RETRO_ALLOW_SKIPS ?? '').split(',').map((s) => s.trim()).includes(kind);
}

function refuse(s: Skip): Error {
  const how = s.kind === 'tool' ? 'run scripts/install-toolchains.sh' : `set RETRO_ALLOW_SKIPS=${s.kind} to allow this skip`;
  return new Error(`RETRO_REQUIRE_TOOLCHAINS is set and this test would be skipped: ${s.reason} (${how})`);
}

/** Why these tools cannot run here (the first problem), or undefined. */
export function toolsProblem(...cmds: string[]): Skip | undefined {
  const missing = cmds.filter((c) => !which(c));
  if (missing.length > 0) return { kind: 'tool', reason: `${missing.join(', ')} not installed (retro doctor --install)` };
  const problems = cmds.filter((c) => EMULATOR.test(c)).flatMap((c) => emulatorProblem(c) ?? []);
  if (problems.length === 0) return undefined;
  return { kind: problems.every((p) => KERNEL.test(p)) ? 'ia32' : 'tool', reason: problems.join('; ') };
}

/** Skips the running test with the reason; under RETRO_REQUIRE_TOOLCHAINS fails it instead, unless allowed. */
export function skipTest(ctx: TestContext, s: Skip): never {
  if (!skipAllowed(s.kind)) throw refuse(s);
  return ctx.skip(s.reason);
}

/** Skips (or in CI fails) the running test unless every command is installed and can start. */
export function needTools(ctx: TestContext, ...cmds: string[]): void {
  const s = toolsProblem(...cmds);
  if (s) skipTest(ctx, s);
}

/** The compiler and emulator a cross build needs. */
export function buildTools(b: CrossBuild): string[] {
  return [b.compiler, ...(b.run?.emulator ? [b.run.emulator] : [])];
}

/**
 * For code with no test context (collection time): whether the tools run here, printing the reason when
 * not. Under RETRO_REQUIRE_TOOLCHAINS a disallowed skip throws. Prefer needTools(ctx) inside a test.
 */
export function haveTools(...cmds: string[]): boolean {
  const s = toolsProblem(...cmds);
  if (!s) return true;
  if (!skipAllowed(s.kind)) throw refuse(s);
  console.warn(`skipping: ${s.reason}`);
  return false;
}

/**
 * The profile's cross builds this machine can run: all of them but those whose emulator the kernel
 * cannot start (wine without IA32 emulation), which the test notes (and CI refuses unless
 * RETRO_ALLOW_SKIPS has `ia32`). Skips the test (or fails it in CI) when a compiler or emulator is missing.
 */
export function runnableBuilds(ctx: TestContext, profile: Profile): CrossBuild[] {
  const refused = (b: CrossBuild) => (b.run?.emulator && which(b.run.emulator) && KERNEL.test(emulatorProblem(b.run.emulator) ?? '') ? b.run.emulator : undefined);
  const builds = profile.cross.filter((b) => !refused(b));
  needTools(ctx, ...profile.cross.map((b) => b.compiler), ...builds.flatMap((b) => (b.run?.emulator ? [b.run.emulator] : [])));
  for (const e of new Set(profile.cross.flatMap((b) => refused(b) ?? []))) {
    const s: Skip = { kind: 'ia32', reason: `the builds run by ${e} are skipped: ${emulatorProblem(e)}` };
    if (!skipAllowed(s.kind)) throw refuse(s);
    if (!said.has(e)) console.warn(s.reason);
    said.add(e);
    ctx.annotate(s.reason, 'notice');
  }
  if (builds.length === 0) skipTest(ctx, { kind: 'ia32', reason: `no build of ${profile.id} can run here` });
  return builds;
}

/** Skips (or in CI fails, unless allowed) a test that needs the kernel to execute 32-bit x86 programs natively; wine's loader is one, so its probe tells. */
export function needI386(ctx: TestContext): void {
  if (which('wine') && KERNEL.test(emulatorProblem('wine') ?? '')) skipTest(ctx, { kind: 'ia32', reason: emulatorProblem('wine')! });
}

/** This machine's first non-loopback IPv4 address; skips (or in CI fails, unless allowed) the test without one. */
export function lanAddress(ctx: TestContext): string {
  const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!lan) skipTest(ctx, { kind: 'lan', reason: 'this machine has no non-loopback IPv4 address' });
  return lan!;
}
