/** The conventions every command shares: --version, --json (results and errors), one seed rule. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSeed } from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';
import { retro } from '../helpers/cli.js';
import { model, ONCE, REPO, tempDir } from '../helpers/fixtures.js';

describe('retro --version and --json', () => {
  it('--version prints the package version', async () => {
    const r = await retro(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString().trim()).toBe(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
  });

  it('build --json reports the bundle as JSON, with no progress lines', async () => {
    const out = join(tempDir(), 'host');
    const r = await retro(['build', '--target', 'host', '--no-compile', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout.toString());
    expect(j.target).toBe('host');
    expect(j.files.map((f: { name: string }) => f.name)).toEqual(expect.arrayContaining(['model.rtr', 'retro.c']));
    expect(j.model.usedDefault).toBe(true);
  });

  it('generate --json gives the prompt ids (BOS first), the generated ids and the text', async () => {
    const r = await retro(['generate', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '-t', '0', '-n', '24', '-i', ONCE, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.toString());
    expect(j.promptIds[0]).toBe(1);
    expect(j.promptIds.length).toBeGreaterThan(2);
    expect(j.promptIds.length + j.ids.length - 1).toBe(24);
    const plain = await retro(['generate', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '-t', '0', '-n', '24', '-i', ONCE]);
    // The printed text is the prompt's pieces, then the generated ones, then a newline.
    expect(j.text.length).toBeGreaterThan(10);
    expect(plain.stdout.toString().endsWith(`${j.text}\n`)).toBe(true);
  });

  it('errors are one line on stderr, and JSON on stdout with --json', async () => {
    const r = await retro(['plan', '--target', 'amiga', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^retro: unknown target "amiga"/);
    const j = JSON.parse(r.stdout.toString());
    expect(j.error.kind).toBe('ProfileError');
    expect(j.error.fix).toMatch(/pick one of those/);
    const usage = await retro(['build', '--target', 'host', '--quant', 'q3', '--json']);
    expect(usage.code).toBe(1);
    expect(JSON.parse(usage.stdout.toString()).error.kind).toBe('UsageError');
  });
});

describe("yargs' own errors are one line with the right fix (issue 27)", () => {
  it('a value outside the choices', async () => {
    const r = await retro(['build', '--target', 'host', '--quant', 'q5', '--no-compile']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('retro: --quant "q5" is not one of f32, q8, q4 (fix: pass --quant f32, q8 or q4)\n');
  });

  it('an unknown command names the commands', async () => {
    const r = await retro(['bogus']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^retro: unknown command "bogus" \(fix: run one of: generate, inspect, targets, build, plan, .*deploy, run, fetch, .*serve.* \(retro --help describes them\)\)\n$/);
  });
});

describe('parseSeed', () => {
  it('whole numbers; negatives wrap to 64 bits as run.c\'s atoi cast does; anything else is refused', () => {
    expect(parseSeed('42')).toBe(42n);
    expect(parseSeed('-1')).toBe(2n ** 64n - 1n);
    expect(parseSeed(undefined)).toBeUndefined();
    expect(() => parseSeed('1.5')).toThrow(UsageError);
    expect(() => parseSeed('abc')).toThrow(/not an integer/);
  });
});
