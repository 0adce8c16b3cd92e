/**
 * sqrt is the one C library function the engine calls while it computes; IEEE 754 requires it
 * correctly rounded. Checked here on every stand-in, built with the profile's own compiler and
 * flags: (float)sqrt((double)x) on every float32 that decides a positive input (exponents 0 and 1,
 * and all subnormals) against the correctly rounded result computed in TS.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { REPO, tempDir } from '../helpers/fixtures.js';
import { buildTools, needTools } from '../helpers/tools.js';
import { wineEnv } from '../helpers/e2e.js';

const dir = tempDir('retro-sqrt-');
copyFileSync(join(REPO, 'test/reference/sqrt-check.c'), join(dir, 'sqrt-check.c'));

function expectedHash(): string {
  const word = new Uint32Array(1);
  const real = new Float32Array(word.buffer);
  let h = 2166136261;
  const check = (u: number) => {
    word[0] = u;
    real[0] = Math.fround(Math.sqrt(real[0]));
    h = Math.imul((h ^ word[0]) >>> 0, 16777619) >>> 0;
  };
  for (let u = 0x3f800000; u < 0x40800000; u++) check(u);
  for (let u = 1; u < 0x800000; u++) check(u);
  return `hash 0x${h.toString(16).padStart(8, '0')}`;
}

describe('sqrt is correctly rounded on every target', () => {
  const want = expectedHash();
  for (const target of ['host', 'powerbook-g4', 'xbox360-xenon', 'win98-pentium2']) {
    const profile = loadProfile(target);
    for (const build of profile.cross) {
      it(`${target}: ${build.id} (${build.compiler} ${build.flags.join(' ')})`, async (ctx) => {
        needTools(ctx, ...buildTools(build));
        const exe = join(dir, `${build.id}.${build.output.split('.').pop()}`);
        execFileSync(build.compiler, [...build.flags.filter((f) => !f.startsWith('-Wl,')), '-o', exe, join(dir, 'sqrt-check.c'), ...build.libs, '-lm']);
        const r = await runBinary(build, exe, [], { cwd: dir, env: wineEnv() });
        expect(r.stdout.toString('latin1').trim(), r.stderr).toBe(want);
      }, 300_000);
    }
  }
});
