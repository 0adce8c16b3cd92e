import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { RETRO, retro } from '../helpers/cli.js';
import { shapeConfig, syntheticTokenizer, writeSyntheticV0 } from '../../src/model/synthetic.js';
import { generateText } from '../helpers/run.js';
import { needTools } from '../helpers/tools.js';

describe('retro build', () => {
  it('without --model uses the built-in default model, and the binary matches the reference on it', async (ctx) => {
    needTools(ctx, 'gcc');
    const dir = tempDir();
    const r = await retro(['build', '--target', 'host', '--out', join(dir, 'host')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no --model given: using retro's built-in default model/);
    expect(r.stdout.toString()).toMatch(/model: retro's built-in default model/);
    const manifest = JSON.parse(readFileSync(join(dir, 'host', 'manifest.json'), 'utf8'));
    expect(manifest.model.usedDefault).toBe(true);
    const profile = loadProfile('host');
    const out = await runBinary(profile.cross[0], join(dir, 'host', 'retro'), ['model.rtr', '-t', '0', '-n', '40', '-i', ONCE], { cwd: join(dir, 'host') });
    expect(out.exitCode).toBe(0);
    const ref = generateText({ model: join(dir, 'host', 'model.rtr'), temperature: 0, steps: 40, prompt: ONCE });
    expect(out.stdout.toString('latin1')).toBe(ref.toString('latin1'));
    // deterministic: a second build gives the same model bytes
    const again = await runBuild({ target: 'host', quant: 'f32', groupSize: 32, out: join(dir, 'again'), compile: false });
    expect(readFileSync(join(again.out, 'model.rtr')).equals(readFileSync(join(dir, 'host', 'model.rtr')))).toBe(true);
  });

  it('manifest lists sha256 and size of every file; 8.3 names for Windows 98', async () => {
    const dir = tempDir();
    const r = await runBuild({ target: 'win98-pentium2', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 32, out: join(dir, 'w'), compile: false });
    const manifest = JSON.parse(readFileSync(join(r.out, 'manifest.json'), 'utf8'));
    const names = readdirSync(r.out).filter((n) => n !== 'manifest.json').sort();
    expect(manifest.files.map((f: { name: string }) => f.name).sort()).toEqual(names);
    for (const n of names) expect(n).toMatch(/^[a-z0-9_-]{1,8}(\.[a-z0-9]{1,3})?$/i);
    const { createHash } = await import('node:crypto');
    const rtr = manifest.files.find((f: { name: string }) => f.name === 'model.rtr');
    expect(rtr.sha256).toBe(createHash('sha256').update(readFileSync(join(r.out, 'model.rtr'))).digest('hex'));
    const readme = readFileSync(join(r.out, 'readme.txt'), 'utf8');
    expect(readme).toMatch(/\r\n.*BINARY mode/s);
    // plain text, not HTML: the start line's quotes as typed (issue 27)
    expect(readme).toContain('-i "Once upon a time"');
    expect(readme).not.toMatch(/&#?\w+;/);
    expect(manifest.binaries.every((b: { status: string }) => b.status === 'skipped')).toBe(true);
  });

  it('a missing cross compiler names the package and still writes everything else', async () => {
    const dir = tempDir();
    const prof = join(dir, 'amiga.json');
    writeFileSync(
      prof,
      JSON.stringify({
        extends: 'powerbook-g4',
        id: 'my-amiga',
        name: 'Amiga 4000 with a PowerPC card',
        cross: [{ id: 'm68k', description: 'none here', compiler: 'm68k-amigaos-gcc', package: 'gcc-m68k-amigaos', flags: [], output: 'retro-68k' }],
      }),
    );
    const r = await retro(['build', '--target', prof, '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '--out', join(dir, 'out')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/retro-68k: not built: m68k-amigaos-gcc not installed \(apt-get install gcc-m68k-amigaos/);
    expect(existsSync(join(dir, 'out', 'model.rtr'))).toBe(true);
    expect(existsSync(join(dir, 'out', 'retro.c'))).toBe(true);
  });

  it('a bad model leaves nothing half-written', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.bin');
    writeFileSync(bad, readFileSync(model('stories260K.bin')).subarray(0, 300000));
    const r = await retro(['build', '--target', 'powerbook-g4', '--model', bad, '-z', model('tok512.bin'), '--out', join(dir, 'out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.bin: truncated/);
    expect(readdirSync(dir)).toEqual(['bad.bin']);
  });

  it('Ctrl-C stops a build at once, while converting or compiling: exit 130, no step after the signal, no compiler left, nothing half-written', async (ctx) => {
    needTools(ctx, 'gcc');
    const dir = tempDir();
    // Large enough that converting it takes many chunks (60 MB of float32 to q8).
    writeSyntheticV0(join(dir, 'm.bin'), { config: shapeConfig('42M'), sharedClassifier: true, seed: 5 });
    writeFileSync(join(dir, 'tok.bin'), syntheticTokenizer(32000));
    for (const at of ['converting', 'compiling']) {
      const tmp = join(dir, `tmp-${at}`);
      mkdirSync(tmp);
      // Its own TMPDIR: the scratch folder (and the compiler's source in it) can be found, and must go.
      const child = spawn(process.execPath, [RETRO, 'build', '--target', 'host', '--model', join(dir, 'm.bin'), '-z', join(dir, 'tok.bin'), '--quant', 'q8', '--out', join(dir, 'out')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
      let err = '';
      let afterSignal = '';
      let signalled = false;
      const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
      child.stderr.on('data', (b: Buffer) => {
        err += b;
        if (signalled) afterSignal += b;
        else if (err.includes(`retro: ${at}`)) {
          signalled = true;
          child.kill('SIGINT');
        }
      });
      expect(await exited, err).toBe(130);
      expect(signalled, err).toBe(true);
      // The conversion stops between chunks: the next step never starts.
      expect(afterSignal, at).not.toMatch(/compiling|built/);
      expect(readdirSync(dir).sort(), at).toEqual(['m.bin', `tmp-${at}`, ...(at === 'compiling' ? ['tmp-converting'] : []), 'tok.bin'].sort());
      expect(readdirSync(tmp), at).toEqual([]);
      const compilers = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && (() => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(tmp);
        } catch {
          return false;
        }
      })());
      expect(compilers, at).toEqual([]);
    }
  }, 120000);
});
