/** Hostile profiles (issue 12): code injection through strings, paths out of the bundle, numbers out of range. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfileError } from '../../src/errors.js';
import { listProfiles, loadProfile } from '../../src/profile/load.js';
import { retro } from '../helpers/cli.js';
import { model, tempDir } from '../helpers/fixtures.js';

const dir = tempDir('retro-safety-');
const host = JSON.parse(readFileSync(join(import.meta.dirname, '../../targets/host.json'), 'utf8'));
const toolchain = host.toolchains[0];
const cross = host.cross[0];

function profile(name: string, over: Record<string, unknown>): string {
  const p = join(dir, `${name}.json`);
  writeFileSync(p, JSON.stringify({ extends: 'host', id: name.toLowerCase().replace(/[^a-z0-9-]/g, '-'), ...over }));
  return p;
}

const HOSTILE: [string, Record<string, unknown>, RegExp][] = [
  ['c-comment', { name: 'x */ int injected_by_profile_name = 1; /*' }, /field name: .* is not allowed here/],
  ['make-rule', { name: 'x\nall:\n\ttouch /tmp/retro-injected' }, /field name: /],
  ['bat-percent', { toolchains: [{ ...toolchain, name: 'cc %COMSPEC%' }] }, /field toolchains\.0\.name: /],
  ['script-traversal', { toolchains: [{ ...toolchain, file: '../../escaped-Makefile' }] }, /field toolchains\.0\.file: "\.\.\/\.\.\/escaped-Makefile" is not allowed here: a plain file name/],
  ['output-traversal', { cross: [{ ...cross, output: '../escaped-bin' }] }, /field cross\.0\.output: .* a plain file name/],
  ['absolute-output', { toolchains: [{ ...toolchain, output: '/tmp/x' }] }, /field toolchains\.0\.output: /],
  ['hidden-file', { toolchains: [{ ...toolchain, file: '.bashrc' }] }, /field toolchains\.0\.file: /],
  ['flag-shell', { toolchains: [{ ...toolchain, flags: ['-O2;touch', 'x'] }] }, /field toolchains\.0\.flags\.0: /],
  ['flag-newline', { toolchains: [{ ...toolchain, libs: ['-lm\nall:'] }] }, /field toolchains\.0\.libs\.0: /],
  ['cc-space', { toolchains: [{ ...toolchain, cc: 'cc -o /etc/x' }] }, /field toolchains\.0\.cc: /],
  ['alignment-2^32+8', { alignment: 2 ** 32 + 8 }, /field alignment: 4294967304 is not in 8\.\.4096/],
  ['alignment-24', { alignment: 24 }, /field alignment: /],
  ['os-reserved-over-ram', { memory: { ramMb: 64, osReservedMb: 100 } }, /field memory\.osReservedMb: 100 MB leaves under 4 MB of the 64 MB ramMb/],
  ['threads', { cpu: { threads: 100000 } }, /field cpu\.threads: 100000 is not in 1\.\.1024/],
];

describe('hostile profiles are refused at load, naming the field', () => {
  for (const [name, over, want] of HOSTILE) {
    it(name, () => {
      const p = profile(name, over);
      expect(() => loadProfile(p)).toThrow(ProfileError);
      expect(() => loadProfile(p)).toThrow(want);
    });
  }

  it('the built-in profiles pass, make variables in flags included', () => {
    expect(listProfiles().length).toBe(4);
    expect(loadProfile('xbox360-xenon').toolchains[0].flags).toContain('-I$(DEVKITXENON)/usr/include');
  });

  it('retro build with an injecting or escaping profile: one line, exit 1, nothing written anywhere', async () => {
    for (const name of ['c-comment', 'script-traversal', 'output-traversal']) {
      const out = join(dir, `out-${name}`);
      const r = await retro(['build', '--target', join(dir, `${name}.json`), '--model', model('stories260K.bin'), '--tokenizer', model('tok512.bin'), '--no-compile', '--out', out]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^retro: .*\(fix: .*\)\n$/);
      expect(existsSync(out)).toBe(false);
    }
    expect(existsSync(join(dir, '..', 'escaped-Makefile'))).toBe(false);
    expect(existsSync(join(dir, 'escaped-bin'))).toBe(false);
  });
});
