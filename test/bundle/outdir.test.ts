/** `retro build --out` replaces only what retro made, and an interrupted build leaves nothing behind (issue 12). */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { UsageError } from '../../src/errors.js';
import { RETRO } from '../helpers/cli.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { needTools } from '../helpers/tools.js';

const dir = tempDir('retro-outdir-');
const build = (out: string, force?: boolean) =>
  runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out, compile: false, force });
const leftovers = (parent: string) => readdirSync(parent).filter((n) => n.includes('.partial-') || n.includes('.old-'));

describe('--out safety', () => {
  it('a folder with someone\'s files is refused and left untouched; --force replaces it', async () => {
    const out = join(dir, 'theirs');
    mkdirSync(out);
    writeFileSync(join(out, 'thesis.txt'), 'years of work');
    await expect(build(out)).rejects.toThrow(UsageError);
    await expect(build(out)).rejects.toThrow(/--out .*theirs holds files retro did not make \(thesis\.txt\); retro replaces only a folder it made, or an empty one/);
    expect(readdirSync(out)).toEqual(['thesis.txt']);
    expect(readFileSync(join(out, 'thesis.txt'), 'utf8')).toBe('years of work');
    expect(leftovers(dir)).toEqual([]);
    await build(out, true);
    expect(existsSync(join(out, 'model.rtr'))).toBe(true);
    expect(existsSync(join(out, 'thesis.txt'))).toBe(false);
  });

  it('a plain file is refused, even with --force, and left untouched', async () => {
    const out = join(dir, 'plain');
    writeFileSync(out, 'not a folder');
    await expect(build(out)).rejects.toThrow(/--out .*plain is a file, not a folder/);
    await expect(build(out, true)).rejects.toThrow(/is a file/);
    expect(readFileSync(out, 'utf8')).toBe('not a folder');
  });

  it('an old retro bundle and an empty folder are replaced; a bundle someone added a file to is refused', async () => {
    const out = join(dir, 'ours');
    mkdirSync(out);
    await build(out);
    const first = readdirSync(out).sort();
    await build(out);
    expect(readdirSync(out).sort()).toEqual(first);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await expect(build(out)).rejects.toThrow(/holds files retro did not make \(notes\.txt\)/);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(leftovers(dir)).toEqual([]);
  });

  it('the CLI: one line with the fix, exit 1', async () => {
    const out = join(dir, 'cli');
    mkdirSync(out);
    writeFileSync(join(out, 'a.txt'), 'x');
    const r = spawn('node', [RETRO, 'build', '--target', 'host', '--no-compile', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    r.stderr.on('data', (d) => (err += d));
    const code = await new Promise((ok) => r.on('close', ok));
    expect(code).toBe(1);
    expect(err).toMatch(/^retro: --out .* holds files retro did not make \(a\.txt\); .* \(fix: choose another --out folder, or pass --force to replace it\)\n$/);
  });
});

describe('an interrupted build cleans up after itself', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while compiling: no staging folder beside --out, no scratch folder in the temp dir`, async (ctx) => {
      needTools(ctx, 'gcc');
      const parent = join(dir, `sig-${signal}`);
      const tmp = join(dir, `tmp-${signal}`);
      mkdirSync(parent);
      mkdirSync(tmp);
      const child = spawn('node', [RETRO, 'build', '--target', 'host', '--model', model('stories260K.bin'), '--tokenizer', model('tok512.bin'), '--out', join(parent, 'b')], {
        env: { ...process.env, TMPDIR: tmp },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // Wait until the compiler runs (the staged model.rtr is written by then), then interrupt.
      let said = '';
      child.stdout.on('data', (d) => (said += d));
      child.stderr.on('data', (d) => (said += d));
      const exited = new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
      const t0 = Date.now();
      while (!/compiling/.test(said) && Date.now() - t0 < 60_000) await new Promise((ok) => setTimeout(ok, 20));
      expect(said).toMatch(/compiling/);
      expect(leftovers(parent).length).toBe(1);
      child.kill(signal);
      expect(await exited).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(readdirSync(parent)).toEqual([]);
      expect(readdirSync(tmp).filter((n) => n.startsWith('retro-build-'))).toEqual([]);
    });
  }
});
