/**
 * retro serve end to end: the test plays the Windows 98 PC. With a different FTP client library
 * (basic-ftp) than the server (ftp-srv) it runs GET.TXT's commands, checks every file against the
 * manifest, runs the Pentium II build on what it fetched (under qemu) and puts TRACE.TXT back;
 * then the same over HTTP, the trace sent by headless Chromium through the page's upload form.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { join } from 'node:path';
import { Client } from 'basic-ftp';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { runServe, type ServeSession } from '../../src/core/serve.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import type { VerifyVerdict } from '../../src/verify/bundle.js';
import { RETRO } from '../helpers/cli.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { lanAddress, needTools, toolsProblem } from '../helpers/tools.js';

const CHROMIUM = '/usr/bin/chromium';
const TOOLS = ['i686-linux-gnu-gcc', 'qemu-i386', 'i686-w64-mingw32-gcc'];
const FTP_PORT = 47121;
const HTTP_PORT = 47180;

describe('retro serve: the Win98 machine pulls the bundle and sends its trace back', () => {
  let bundle: string;
  let session: ServeSession;
  const verdicts: { v: VerifyVerdict; via: string }[] = [];
  const errors: Error[] = [];
  let waiting: (() => void) | undefined;
  const nextVerdict = () => new Promise<void>((ok) => (waiting = ok));
  const manifest = () => JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { files: { name: string; sha256: string }[] };
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  beforeEach((ctx) => needTools(ctx, ...TOOLS));
  beforeAll(async () => {
    // each test skips (or in CI fails) with the reason
    if (toolsProblem(...TOOLS)) return;
    bundle = (await runBuild({ target: 'win98-pentium2', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(tempDir(), 'w98'), compile: true })).out;
    session = await runServe(
      { target: 'win98-pentium2', bundle, address: '127.0.0.1', ftpPort: FTP_PORT, httpPort: HTTP_PORT, steps: 24, prompt: ONCE },
      (v, via) => {
        verdicts.push({ v, via });
        waiting?.();
      },
      (e) => {
        errors.push(e);
        waiting?.();
      },
    );
  });
  afterAll(() => session?.close());

  /** The last verdict came over `via`, passed on all 24 positions, and the trace is kept byte for byte. */
  const verdictPassed = (via: string, trace: string) => {
    expect(errors).toEqual([]);
    const last = verdicts.at(-1)!;
    expect(last.via).toBe(via);
    expect(last.v.pass).toBe(true);
    expect(last.v.runs[0].result.positions.length).toBe(24);
    expect(readFileSync(session.tracePath).equals(readFileSync(trace))).toBe(true);
  };

  /** What the engine writes at the machine: the Pentium II build run on the fetched files. */
  const traceAt = async (dir: string) => {
    const p2 = loadProfile('win98-pentium2').cross.find((c) => c.id === 'linux-i686-p2')!;
    const run = await runBinary(p2, join(bundle, 'retro.elf'), ['model.rtr', '-t', '0', '-n', '24', '-i', ONCE, '-T', 'TRACE.TXT'], { cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    return join(dir, 'TRACE.TXT');
  };

  it('prints the commands: GET.TXT and PUT.TXT for ftp.exe, the URL for IE, a one-time password, the LAN address asked for', () => {
    expect(session.getTxt).toMatch(new RegExp(`^open 127\\.0\\.0\\.1 ${FTP_PORT}\\r\\nuser retro ${session.password}\\r\\nbinary\\r\\n(get \\S+\\r\\n)+bye\\r\\n$`));
    expect(session.putTxt).toBe(`open 127.0.0.1 ${FTP_PORT}\r\nuser retro ${session.password}\r\nbinary\r\nput TRACE.TXT\r\nbye\r\n`);
    expect(session.password).toMatch(/^[a-z2-9]{10}$/);
    expect(session.instructions.join('\n')).toContain('ftp -n -s:GET.TXT');
    expect(session.instructions.join('\n')).toContain(`retro.exe model.rtr -t 0 -n 24 -i "Once upon a time" -T TRACE.TXT`);
    expect(session.instructions.join('\n')).toContain(`http://127.0.0.1:${HTTP_PORT}/`);
    expect(session.files.map((f) => f.name)).not.toContain('retro.elf');
  });

  it('ftp: every file per GET.TXT hash-equal to the manifest; read-only but TRACE.TXT; the put trace is verified on arrival', async () => {
    const lines = session.getTxt.trim().split('\r\n');
    const [, host, port] = lines[0].split(' ');
    const [, user, password] = lines[1].split(' ');
    const at = tempDir();
    const c = new Client();
    await c.access({ host, port: Number(port), user, password });
    for (const l of lines.filter((x) => x.startsWith('get '))) await c.downloadTo(join(at, l.slice(4)), l.slice(4));
    const wanted = manifest().files.filter((f) => session.files.some((s) => s.name === f.name));
    expect(wanted.length).toBe(session.files.length);
    for (const f of wanted) expect(sha(readFileSync(join(at, f.name))), f.name).toBe(f.sha256);
    // Nothing else may be written, deleted or renamed.
    writeFileSync(join(at, 'EVIL.TXT'), 'x');
    await expect(c.uploadFrom(join(at, 'EVIL.TXT'), 'EVIL.TXT')).rejects.toThrow();
    await expect(c.remove('model.rtr')).rejects.toThrow();
    await expect(c.rename('model.rtr', 'x.rtr')).rejects.toThrow();
    expect(existsSync(join(bundle, 'EVIL.TXT'))).toBe(false);

    const trace = await traceAt(at);
    const arrived = nextVerdict();
    await c.uploadFrom(trace, 'TRACE.TXT');
    c.close();
    await arrived;
    verdictPassed('ftp', trace);

    const wrong = new Client();
    await expect(wrong.access({ host, port: Number(port), user, password: 'not-it' })).rejects.toThrow();
    wrong.close();
  });

  it('ftp in active mode (PORT), as Windows ftp.exe does it, with Python\'s ftplib running GET.TXT and PUT.TXT line by line', async (ctx) => {
    needTools(ctx, 'python3');
    const at = tempDir();
    writeFileSync(join(at, 'GET.TXT'), session.getTxt);
    writeFileSync(join(at, 'PUT.TXT'), session.putTxt);
    // A tiny ftp.exe: open, user, binary, get, put, bye; active mode only.
    const ftpExe = [
      'import ftplib, sys',
      'f = None',
      'for line in open(sys.argv[1]).read().splitlines():',
      '    w = line.split()',
      '    if w[0] == "open": f = ftplib.FTP(); f.connect(w[1], int(w[2])); f.set_pasv(False)',
      '    elif w[0] == "user": f.login(w[1], w[2])',
      '    elif w[0] == "binary": f.voidcmd("TYPE I")',
      '    elif w[0] == "get": f.retrbinary("RETR " + w[1], open(w[1], "wb").write)',
      '    elif w[0] == "put": f.storbinary("STOR " + w[1], open(w[1], "rb"))',
      '    elif w[0] == "bye": f.quit()',
    ].join('\n');
    writeFileSync(join(at, 'ftpexe.py'), ftpExe);
    // Asynchronous: the server runs in this very process.
    await execa('python3', ['ftpexe.py', 'GET.TXT'], { cwd: at, timeout: 60000 });
    for (const f of manifest().files.filter((x) => session.files.some((s) => s.name === x.name))) expect(sha(readFileSync(join(at, f.name))), f.name).toBe(f.sha256);
    const trace = await traceAt(at);
    const arrived = nextVerdict();
    await execa('python3', ['ftpexe.py', 'PUT.TXT'], { cwd: at, timeout: 60000 });
    await arrived;
    verdictPassed('ftp', trace);
  });

  it('http: each file with the password, nothing without; headless Chromium sends the trace with the upload form, verified on arrival', async (ctx) => {
    needTools(ctx, CHROMIUM);
    const auth = { Authorization: `Basic ${Buffer.from(`retro:${session.password}`).toString('base64')}` };
    const base = `http://127.0.0.1:${HTTP_PORT}`;
    expect((await fetch(`${base}/model.rtr`)).status).toBe(401);
    expect((await fetch(`${base}/model.rtr`, { headers: { Authorization: `Basic ${Buffer.from('retro:nope').toString('base64')}` } })).status).toBe(401);
    const at = tempDir();
    for (const f of manifest().files.filter((x) => session.files.some((s) => s.name === x.name))) {
      const r = await fetch(`${base}/${f.name}`, { headers: auth });
      expect(r.status, f.name).toBe(200);
      const b = Buffer.from(await r.arrayBuffer());
      expect(sha(b), f.name).toBe(f.sha256);
      writeFileSync(join(at, f.name), b);
    }
    expect(await (await fetch(`${base}/GET.TXT`, { headers: auth })).text()).toBe(session.getTxt);
    const trace = await traceAt(at);

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await (await browser.newContext({ httpCredentials: { username: 'retro', password: session.password } })).newPage();
      await page.goto(`${base}/`);
      expect(await page.locator('a').allTextContents()).toEqual(expect.arrayContaining(['model.rtr', 'retro.exe', 'GET.TXT']));
      await page.setInputFiles('input[name=trace]', trace);
      const arrived = nextVerdict();
      await Promise.all([page.waitForLoadState('load'), page.click('input[type=submit]')]);
      await arrived;
      expect(await page.textContent('body')).toMatch(/TRACE\.TXT received \(\d+ bytes\)/);
    } finally {
      await browser.close();
    }
    verdictPassed('http', trace);
  });

  it('the CLI: serves on the LAN address (not 0.0.0.0), prints the password, GET.TXT and PUT.TXT, stops on Ctrl-C', async (ctx) => {
    const lan = lanAddress(ctx);
    const child = spawn(process.execPath, [RETRO, 'serve', '--target', 'win98-pentium2', '--bundle', bundle, '--ftp-port', '47221', '--http-port', '47280', '-n', '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    const closed = new Promise<number | null>((r) => child.on('exit', r));
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`no "waiting" line: ${out} ${err}`)), 20000);
      child.stdout.on('data', () => /waiting for TRACE\.TXT/.test(out) && (clearTimeout(t), ok()));
    });
    const pw = /one-time password: ([a-z2-9]{10}) /.exec(out)![1];
    expect(out).toContain(`on ${lan}: ftp port 47221, http port 47280`);
    expect(out).toContain(`GET.TXT:\nopen ${lan} 47221\nuser retro ${pw}\nbinary\nget `);
    expect(out).toContain(`PUT.TXT:\nopen ${lan} 47221\nuser retro ${pw}\nbinary\nput TRACE.TXT\nbye`);
    expect(out).toContain(`http://${lan}:47280/`);
    expect(out).not.toContain('0.0.0.0');
    const ok = await fetch(`http://${lan}:47280/GET.TXT`, { headers: { Authorization: `Basic ${Buffer.from(`retro:${pw}`).toString('base64')}` } });
    expect(ok.status).toBe(200);
    child.kill('SIGINT');
    expect(await closed).toBe(0);
  });
});
