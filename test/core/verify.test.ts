import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { runVerify } from '../../src/core/verify.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { retro } from '../helpers/cli.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { needTools } from '../helpers/tools.js';
import { wineEnv } from '../helpers/e2e.js';
import { verifyRequest } from '../helpers/verify.js';

describe('retro verify', () => {
  it('--trace: a trace written by the Win98 .exe under wine, as if fetched over FTP', async (ctx) => {
    needTools(ctx, 'i686-w64-mingw32-gcc', 'wine');
    const dir = tempDir();
    const b = await runBuild({ target: 'win98-pentium2', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(dir, 'w98'), compile: true });
    const exe = loadProfile('win98-pentium2').cross.find((x) => x.id === 'win32-exe')!;
    const r = await runBinary(exe, join(b.out, 'retro.exe'), ['model.rtr', '-t', '0.8', '-s', '7', '-n', '40', '-i', ONCE, '-T', 'TRACE.TXT'], { cwd: b.out, env: wineEnv() });
    expect(r.exitCode, r.stderr).toBe(0);
    const trace = join(dir, 'TRACE.TXT');
    writeFileSync(trace, readFileSync(join(b.out, 'TRACE.TXT')));
    const v = await runVerify(verifyRequest('win98-pentium2', { bundle: b.out, trace }));
    expect(v.runs).toHaveLength(1);
    expect(v.runs[0].result.positions).toHaveLength(40);
    expect(v.runs[0].result.failures).toEqual([]);
    // a tampered trace fails
    const text = readFileSync(trace, 'latin1').split('\n');
    text[20] = text[20].replace(/ top (\d+):(\S+)/, (_m, id, v) => ` top ${id}:${Number(v) + 0.5}`);
    writeFileSync(trace, text.join('\n'));
    const bad = await runVerify(verifyRequest('win98-pentium2', { bundle: b.out, trace }));
    expect(bad.pass).toBe(false);
    expect(bad.runs[0].result.failures[0]).toMatch(/pos 19: top-k logit error 0\.5/);
  });

  it('CLI: table, --json, HTML report with a chart; a broken engine exits 1', async (ctx) => {
    needTools(ctx, 'gcc');
    const dir = tempDir();
    const bundle = join(dir, 'host');
    const ok = await retro(['verify', '--target', 'host', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '--bundle', bundle, '-n', '24']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.toString()).toMatch(/host\s+host-gcc \(native, scalar\)\s+f32\s+free\s+24\s+24\/24\s+0\.00e\+0\s+0\s+PASS/);
    const html = readFileSync(join(dir, 'host.verify.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('<polyline');
    const j = await retro(['verify', '--target', 'host', '--bundle', bundle, '-n', '16', '--mode', 'forced', '--json']);
    const data = JSON.parse(j.stdout.toString());
    expect(data.pass).toBe(true);
    expect(data.runs[0]).toMatchObject({ mode: 'forced', positions: 16, argmaxAgree: 16 });
    // break the engine's softmax and rebuild by hand
    const c = readFileSync(join(bundle, 'retro.c'), 'utf8').replace('for (i = 0; i < size; i++) x[i] /= sum;', 'for (i = 0; i < size; i++) x[i] /= sum * 1.01f;');
    writeFileSync(join(bundle, 'retro.c'), c);
    const { compile } = await import('../../src/toolchain/tools.js');
    await compile(loadProfile('host').cross[0], join(bundle, 'retro.c'), join(bundle, 'retro'), bundle);
    const bad = await retro(['verify', '--target', 'host', '--bundle', bundle, '-n', '16']);
    expect(bad.code).toBe(1);
    expect(bad.stdout.toString()).toMatch(/FAIL/);
    expect(existsSync(join(dir, 'host.verify.html'))).toBe(true);
  });

  it('a trace that is not a trace is one clear error', async () => {
    const dir = tempDir();
    const b = await runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(dir, 'h'), compile: false });
    const t = join(dir, 'junk.txt');
    writeFileSync(t, 'hello\n');
    const r = await retro(['verify', '--target', 'host', '--bundle', b.out, '--trace', t]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/junk\.txt:1: not a retro trace: missing "# retro-trace 1" header/);
  });
});
