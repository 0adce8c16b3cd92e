/**
 * retro serve end to end: the test plays the Windows 98 PC. With a different FTP client library
 * (basic-ftp) than the server (ftp-srv) it runs GET.TXT's commands, checks every file against the
 * manifest, runs the Pentium II build on what it fetched (under qemu) and puts TRACE.TXT back;
 * then the same over HTTP, the trace sent by headless Chromium through the page's upload form.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { dirname, join } from 'node:path';
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
  const verdicts: { v: VerifyVerdict; via: string; trace: string }[] = [];
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
      (v, via, trace) => {
        verdicts.push({ v, via, trace });
        waiting?.();
      },
      (e) => {
        errors.push(e);
        waiting?.();
      },
    );
  });
  afterAll(() => session?.close());

  /** The last verdict came over `via`, passed on all 24 positions, and the trace is kept byte for byte beside the bundle. */
  const verdictPassed = (via: string, trace: string) => {
    expect(errors).toEqual([]);
    const last = verdicts.at(-1)!;
    expect(last.via).toBe(via);
    expect(last.v.pass).toBe(true);
    expect(last.v.runs[0].result.positions.length).toBe(24);
    expect(dirname(last.trace)).toBe(session.traces);
    expect(readFileSync(last.trace).equals(readFileSync(trace))).toBe(true);
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

  it('each upload is kept under its own name beside the bundle: a garbage one after a good one leaves both, and a rebuild needs no --force', async () => {
    const at = tempDir();
    const c = new Client();
    await c.access({ host: '127.0.0.1', port: FTP_PORT, user: 'retro', password: session.password });
    for (const f of session.files) await c.downloadTo(join(at, f.name), f.name);
    const good = await traceAt(at);
    let arrived = nextVerdict();
    await c.uploadFrom(good, 'TRACE.TXT');
    await arrived;
    verdictPassed('ftp', good);
    const goodCopy = verdicts.at(-1)!.trace;
    writeFileSync(join(at, 'GARBAGE.TXT'), 'not a trace\r\n');
    arrived = nextVerdict();
    await c.uploadFrom(join(at, 'GARBAGE.TXT'), 'TRACE.TXT');
    c.close();
    await arrived;
    expect(errors.pop()?.message).toBeTruthy();
    expect(readFileSync(goodCopy).equals(readFileSync(good))).toBe(true);
    expect(readdirSync(session.traces).length).toBeGreaterThanOrEqual(2);
    expect(readdirSync(bundle).filter((n) => /trace/i.test(n))).toEqual([]);
    const before = readdirSync(session.traces).sort();
    await runBuild({ target: 'win98-pentium2', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: bundle, compile: true });
    expect(readdirSync(session.traces).sort()).toEqual(before);
    expect(readFileSync(goodCopy).equals(readFileSync(good))).toBe(true);
  });

  it('ftp hardening: a refused STOR beside an upload under way leaves it whole and shows no path; uploads are capped; LIST and NLST list; STOU and APPE are refused', async (ctx) => {
    const login = async () => {
      const c = new Client();
      await c.access({ host: '127.0.0.1', port: FTP_PORT, user: 'retro', password: session.password });
      return c;
    };
    const at = tempDir();
    const a = await login();
    for (const f of session.files) await a.downloadTo(join(at, f.name), f.name);
    const trace = readFileSync(await traceAt(at));
    // Connection A sends half the trace and waits; B's refused STOR must not touch A's bytes.
    const slow = new PassThrough();
    const arrived = nextVerdict();
    const sending = a.uploadFrom(slow, 'TRACE.TXT');
    slow.write(trace.subarray(0, trace.length >> 1));
    await new Promise((r) => setTimeout(r, 300));
    const b = await login();
    writeFileSync(join(at, 'EVIL.TXT'), 'x');
    const refused = await b.uploadFrom(join(at, 'EVIL.TXT'), 'EVIL.TXT').then(() => '', (e: Error) => e.message);
    expect(refused).toMatch(/^550 read-only: only the trace may be uploaded/);
    for (const secret of [bundle, session.traces, '/tmp']) expect(refused).not.toContain(secret);
    slow.end(trace.subarray(trace.length >> 1));
    await sending;
    await arrived;
    verdictPassed('ftp', join(at, 'TRACE.TXT'));
    a.close();

    // Larger than any trace verify reads: refused, and nothing of it stays.
    const before = readdirSync(session.traces).sort();
    const huge = await b.uploadFrom(PassThrough.from([Buffer.alloc(session.maxUploadBytes + 1, 0x41)]), 'TRACE.TXT').then(() => '', (e: Error) => e.message);
    expect(huge).toMatch(/^550 a trace is at most 64 MB; this upload was refused and removed/);
    expect(readdirSync(session.traces).sort()).toEqual(before);
    b.close();

    needTools(ctx, 'python3');
    // As Windows ftp.exe does it: active mode, `dir` (LIST), `ls` (NLST), and the rarer STOU and APPE.
    const script = [
      'import ftplib, sys',
      'f = ftplib.FTP(); f.connect("127.0.0.1", int(sys.argv[1])); f.set_pasv(False); f.login("retro", sys.argv[2])',
      'lines = []; f.retrlines("LIST", lines.append); print("LIST", len(lines), lines[0].split()[-1] if lines else "")',
      'print("NLST", " ".join(sorted(f.nlst())))',
      'for cmd in ("STOU", "APPE TRACE.TXT"):',
      '    try: f.storbinary(cmd, open(sys.argv[3], "rb")); print(cmd, "accepted")',
      '    except ftplib.all_errors as e: print(cmd.split()[0], str(e))',
      'f.quit()',
    ].join('\n');
    writeFileSync(join(at, 'dir.py'), script);
    const r = await execa('python3', ['dir.py', String(FTP_PORT), session.password, join(at, 'TRACE.TXT')], { cwd: at, timeout: 60000 });
    const out = r.stdout.split('\n');
    expect(out[0]).toBe(`LIST ${session.files.length} ${session.files[0].name}`);
    expect(out[1]).toBe(`NLST ${session.files.map((f) => f.name).sort().join(' ')}`);
    expect(out[2]).toBe('STOU 502 Command blacklisted: STOU');
    expect(out[3]).toBe('APPE 502 Command blacklisted: APPE');
    expect(readdirSync(session.traces).sort()).toEqual(before);
  });

  it('http: uploads stream to disk, two at a time: 8 concurrent 60 MB uploads neither buffer in memory nor pile up', async () => {
    const body = Buffer.alloc(60 * 1048576, 0x42);
    const boundary = 'retro-test-boundary';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="trace"; filename="TRACE.TXT"\r\nContent-Type: text/plain\r\n\r\n`);
    const foot = Buffer.from(`\r\n--${boundary}--\r\n`);
    const before = readdirSync(session.traces).length;
    const errorsBefore = errors.length;
    const post = () =>
      new Promise<number>((ok) => {
        const req = request({ host: '127.0.0.1', port: HTTP_PORT, path: '/upload', method: 'POST', auth: `retro:${session.password}`, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': head.length + body.length + foot.length } }, (res) => {
          res.resume();
          res.on('end', () => ok(res.statusCode ?? 0));
        });
        req.on('error', () => ok(-1));
        req.write(head);
        req.write(body);
        req.end(foot);
      });
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const codes = await Promise.all(Array.from({ length: 8 }, post));
    clearInterval(sampler);
    // Bodies of 60 MB each were held whole before (Buffer.concat): 8 of them is 480 MB and more.
    expect(peak - base).toBeLessThan(200 * 1048576);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(2);
    expect(codes.every((c) => c === 200 || c === 503 || c === -1)).toBe(true);
    // Each accepted upload is kept whole under its own name (and then fails verification: it is no trace).
    expect(readdirSync(session.traces).length - before).toBe(codes.filter((c) => c === 200).length);
    expect(readdirSync(session.traces).filter((n) => n.endsWith('.partial'))).toEqual([]);
    errors.splice(errorsBefore);
  });

  it('the CLI with --json: one JSON object per line, "serving", then a "verdict" per trace, "stopped" on Ctrl-C', async () => {
    const child = spawn(process.execPath, [RETRO, 'serve', '--json', '--target', 'win98-pentium2', '--bundle', bundle, '--address', '127.0.0.1', '--ftp-port', '47321', '--http-port', '47380', '-n', '24'], { stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (b) => (err += b));
    const closed = new Promise<number | null>((r) => child.on('exit', r));
    const line = (n: number) =>
      new Promise<Record<string, unknown>>((ok, fail) => {
        const t = setTimeout(() => fail(new Error(`no line ${n}: ${out} ${err}`)), 60000);
        const check = () => {
          const lines = out.split('\n');
          if (lines.length > n + 1) {
            clearTimeout(t);
            child.stdout.off('data', check);
            ok(JSON.parse(lines[n]) as Record<string, unknown>);
          }
        };
        child.stdout.on('data', (b) => ((out += b), check()));
        check();
      });
    const serving = await line(0);
    expect(serving).toMatchObject({ event: 'serving', profile: 'win98-pentium2', address: '127.0.0.1', ftpPort: 47321, httpPort: 47380, user: 'retro', traces: `${bundle}.traces` });
    const at = tempDir();
    const c = new Client();
    await c.access({ host: '127.0.0.1', port: 47321, user: 'retro', password: serving.password as string });
    for (const f of serving.files as { name: string }[]) await c.downloadTo(join(at, f.name), f.name);
    await c.uploadFrom(await traceAt(at), 'TRACE.TXT');
    c.close();
    const verdict = await line(1);
    expect(verdict).toMatchObject({ event: 'verdict', via: 'ftp', target: 'win98-pentium2', pass: true });
    expect((verdict.runs as { positions: number }[])[0].positions).toBe(24);
    expect(readFileSync(verdict.trace as string).equals(readFileSync(join(at, 'TRACE.TXT')))).toBe(true);
    child.kill('SIGINT');
    expect(await line(2)).toEqual({ event: 'stopped' });
    expect(await closed).toBe(0);
    expect(err).toBe('');
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
