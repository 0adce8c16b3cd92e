/**
 * retro deploy / run / fetch through the CLI, against real OpenSSH and vsftpd servers on
 * 127.0.0.1 started by the test (the remote file system is this machine's, so every remote
 * file is compared byte for byte with the bundle).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { execa } from 'execa';
import { shapeConfig, syntheticTokenizer, writeSyntheticV0 } from '../../src/model/synthetic.js';
import { RETRO, retro } from '../helpers/cli.js';
import { golden, model, ONCE, tempDir } from '../helpers/fixtures.js';
import { freePort, needServers, serversMissing, startServers, type Servers } from '../helpers/servers.js';
import { needTools, toolsProblem } from '../helpers/tools.js';

const TOOLS = ['gcc', 'i686-linux-gnu-gcc', 'qemu-i386'];

describe('deploy, run and fetch against real servers', () => {
  let s: Servers;
  let work: string;
  let host: string;
  let w98: string;
  beforeEach((ctx) => {
    needServers(ctx);
    needTools(ctx, ...TOOLS);
  });
  beforeAll(async () => {
    // each test skips (or in CI fails) with the reason
    if (serversMissing() || toolsProblem(...TOOLS)) return;
    s = await startServers();
    work = tempDir();
    const m = { model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32' as const, groupSize: 32, compile: true };
    host = (await runBuild({ ...m, target: 'host', out: join(work, 'host') })).out;
    w98 = (await runBuild({ ...m, target: 'win98-pentium2', out: join(work, 'w98') })).out;
  });
  afterAll(() => s?.stop());

  const ssh = (extra: string[] = []) => ['--via', 'ssh', '--host', '127.0.0.1', '--port', String(s.ssh.port), '--user', s.user, '--identity', s.ssh.identity, '--known-hosts', s.ssh.knownHosts, ...extra];
  const ftp = (extra: string[] = []) => ['--via', 'ftp', '--host', '127.0.0.1', '--port', String(s.ftp.port), '--user', s.user, ...extra];
  const withPassword = (pw: string) => ({ env: { RETRO_PASSWORD: pw } });
  const noSecret = (r: { stdout: Buffer; stderr: string }) => {
    expect(r.stdout.toString('latin1')).not.toContain(s.password);
    expect(r.stderr).not.toContain(s.password);
    expect(r.stderr).not.toContain('wrong-');
  };
  const sameFiles = (bundle: string, remoteDir: string, names: string[]) => {
    for (const n of names) expect(readFileSync(join(remoteDir, n)).equals(readFileSync(join(bundle, n))), n).toBe(true);
  };
  const oneLineError = (r: { code: number; stderr: string }, pattern: RegExp) => {
    expect(r.code).toBe(1);
    // Progress lines may come first; the error is one line, the last.
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.includes('(fix: ')), r.stderr).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/^retro: .*\(fix: .+\)$/);
    expect(lines.at(-1)).toMatch(pattern);
  };

  it('ssh: uploads the host bundle (binary executable, every file identical), then skips what is there', async () => {
    const dir = join(s.home, 'host-ssh');
    const r = await retro(['deploy', '--target', 'host', '--bundle', host, '--remote-dir', dir, ...ssh()]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(host, 'manifest.json'), 'utf8'));
    const names = manifest.files.map((f: { name: string }) => f.name);
    sameFiles(host, dir, names);
    expect(statSync(join(dir, 'retro')).mode & 0o111).not.toBe(0);
    expect(r.stdout.toString()).toMatch(new RegExp(`deployed to ${s.user}@127\\.0\\.0\\.1:.* over ssh`));
    const again = await retro(['deploy', '--target', 'host', '--bundle', host, '--remote-dir', dir, '--json', ...ssh()]);
    expect(again.code, again.stderr).toBe(0);
    const j = JSON.parse(again.stdout.toString());
    expect(j.skipped.sort()).toEqual([...names].sort());
    expect(j.bytesSent).toBe(0);
  });

  it('ftp: uploads the Win98 bundle in binary mode with 8.3 names; the Linux stand-in stays home', async () => {
    const dir = join(s.home, 'W98');
    const r = await retro(['deploy', '--target', 'win98-pentium2', '--bundle', w98, '--remote-dir', dir, ...ftp()], withPassword(s.password));
    expect(r.code, r.stderr).toBe(0);
    noSecret(r);
    const manifest = JSON.parse(readFileSync(join(w98, 'manifest.json'), 'utf8'));
    const names: string[] = manifest.files.map((f: { name: string }) => f.name).filter((n: string) => n !== 'retro.elf');
    expect(names).toContain('retro.exe');
    expect(names).toContain('model.rtr');
    sameFiles(w98, dir, names);
    expect(existsSync(join(dir, 'retro.elf'))).toBe(false);
    for (const n of names) expect(n).toMatch(/^[a-z0-9_]{1,8}(\.[a-z0-9]{1,3})?$/i);
  });

  it('retro.config.json names the machine; flags override it; no password is ever stored there', async () => {
    const proj = tempDir();
    const dir = join(s.home, 'named');
    writeFileSync(join(proj, 'retro.config.json'), JSON.stringify({ machines: { 'old-pc': { target: 'win98-pentium2', host: '127.0.0.1', via: 'ftp', port: s.ftp.port, user: s.user, remoteDir: dir, passwordEnv: 'OLD_PC_PASSWORD', bundle: w98 } } }));
    const r = await retro(['deploy', 'old-pc'], { cwd: proj, env: { OLD_PC_PASSWORD: s.password } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'model.rtr')).equals(readFileSync(join(w98, 'model.rtr')))).toBe(true);
    const other = join(s.home, 'named2');
    const o = await retro(['deploy', 'old-pc', '--remote-dir', other], { cwd: proj, env: { OLD_PC_PASSWORD: s.password } });
    expect(o.code, o.stderr).toBe(0);
    expect(existsSync(join(other, 'retro.exe'))).toBe(true);
    const unknown = await retro(['deploy', 'new-pc'], { cwd: proj });
    oneLineError(unknown, /no machine named "new-pc".*use one of: old-pc/);
    writeFileSync(join(proj, 'retro.config.json'), JSON.stringify({ machines: { x: { target: 'host', host: 'h', password: 'hunter2' } } }));
    const bad = await retro(['deploy', 'x'], { cwd: proj });
    oneLineError(bad, /passwordEnv/);
    expect(bad.stderr).not.toContain('hunter2');
  });

  it('wrong password, wrong key, unknown and changed host key, unreachable host, read-only dir: one clear line, exit 1, no secret', async () => {
    const dir = join(s.home, 'errs');
    const base = ['deploy', '--target', 'host', '--bundle', host, '--remote-dir', dir];
    // The hint names the variable the password was read from, and no key for FTP.
    const ftpLogin = await retro([...base, ...ftp()], withPassword('wrong-ftp-pass'));
    oneLineError(ftpLogin, new RegExp(`ftp://${s.user}@127\\.0\\.0\\.1:\\d+: login failed \\(fix: check the user name and the password \\(in RETRO_PASSWORD\\)\\)$`));
    const named = await retro([...base, ...ftp(['--password-env', 'OLD_PC_PW'])], { env: { OLD_PC_PW: 'wrong-ftp-pass' } });
    oneLineError(named, /login failed \(fix: check the user name and the password \(in OLD_PC_PW\)\)$/);
    const sshPw = await retro([...base, '--via', 'ssh', '--host', '127.0.0.1', '--port', String(s.ssh.port), '--user', s.user, '--known-hosts', s.ssh.knownHosts], { env: { RETRO_PASSWORD: 'wrong-ssh-pass', SSH_AUTH_SOCK: '' } });
    oneLineError(sshPw, /login failed \(fix: check the user name and the password \(in RETRO_PASSWORD\) or the key \(--identity\)\)$/);
    noSecret(sshPw);
    // The right password over SSH works (password auth, no key).
    const pwOk = await retro([...base, '--via', 'ssh', '--host', '127.0.0.1', '--port', String(s.ssh.port), '--user', s.user, '--known-hosts', s.ssh.knownHosts], { env: { RETRO_PASSWORD: s.password, SSH_AUTH_SOCK: '' } });
    expect(pwOk.code, pwOk.stderr).toBe(0);
    noSecret(pwOk);
    oneLineError(await retro([...base, ...ssh(['--identity', s.ssh.otherIdentity])]), /login failed/);

    const emptyKnown = join(tempDir(), 'known_hosts');
    writeFileSync(emptyKnown, '');
    const unknown = await retro([...base, ...ssh(['--known-hosts', emptyKnown])]);
    oneLineError(unknown, /unknown host key SHA256:\S+; refusing/);
    expect(unknown.stderr).toContain(s.ssh.hostKeyFingerprint);
    const pinned = await retro([...base, ...ssh(['--known-hosts', emptyKnown, '--host-key-sha256', s.ssh.hostKeyFingerprint])]);
    expect(pinned.code, pinned.stderr).toBe(0);
    const wrongPin = await retro([...base, ...ssh(['--known-hosts', emptyKnown, '--host-key-sha256', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'])]);
    oneLineError(wrongPin, /host key SHA256:\S+ is not the pinned SHA256:A+; refusing to connect \(fix: compare the pin/);
    expect(wrongPin.stderr).not.toMatch(/known_hosts/);
    const changedKnown = join(tempDir(), 'known_hosts');
    writeFileSync(changedKnown, `[127.0.0.1]:${s.ssh.port} ${readFileSync(`${s.ssh.otherIdentity}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    oneLineError(await retro([...base, ...ssh(['--known-hosts', changedKnown])]), /HOST KEY CHANGED/);

    const closed = await freePort();
    oneLineError(await retro([...base, '--via', 'ssh', '--host', '127.0.0.1', '--port', String(closed), '--identity', s.ssh.identity]), /connection refused/);
    oneLineError(await retro([...base, '--via', 'ftp', '--host', '127.0.0.1', '--port', String(closed)], withPassword(s.password)), /connection refused/);

    const ro = join(s.home, 'readonly');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    chownSync(ro, 0, 0);
    const roSsh = await retro(['deploy', '--target', 'host', '--bundle', host, '--remote-dir', `${ro}/sub`, ...ssh()]);
    oneLineError(roSsh, /sftp: creating directory .*readonly\/sub failed.*writable/);
    const roFtp = await retro(['deploy', '--target', 'host', '--bundle', host, '--remote-dir', ro, ...ftp()], withPassword(s.password));
    oneLineError(roFtp, /ftp: the server refused the data of .*readonly.*: 553 .*\(fix: check that the remote directory is writable by this user/);
    noSecret(roFtp);
    expect(existsSync(join(ro, 'retro'))).toBe(false);
  });

  it('end to end over SSH: build for host, deploy, retro run --trace, verify passes', async () => {
    const dir = join(s.home, 'e2e');
    expect((await retro(['deploy', '--target', 'host', '--bundle', host, '--remote-dir', dir, ...ssh()])).code).toBe(0);
    const r = await retro(['run', '--target', 'host', '--bundle', host, '--remote-dir', dir, '-t', '0', '-n', '64', '-i', ONCE, '--trace', ...ssh()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.subarray(0, golden('stories260K_once-upon-a-time_t0_n64.txt').length).equals(golden('stories260K_once-upon-a-time_t0_n64.txt'))).toBe(true);
    const traceName = `trace-${s.user}_127.0.0.1.txt`;
    expect(r.stdout.toString()).toMatch(new RegExp(`${traceName.replace(/\./g, '\\.')}\\s+f32\\s+free\\s+64\\s+64/64\\s+\\S+\\s+\\S+\\s+PASS`));
    // The same through retro verify --via ssh.
    const v = await retro(['verify', '--target', 'host', '--bundle', host, '--remote-dir', dir, '-n', '32', ...ssh()]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.toString()).toMatch(/\s32\s+32\/32\s+\S+\s+\S+\s+PASS/);
    // The traces are kept beside the bundle, not in it: the README's loop rebuilds without --force and keeps them.
    const kept = readFileSync(join(`${host}.traces`, traceName));
    expect(readdirSync(host).filter((n) => /trace/i.test(n))).toEqual([]);
    const rebuilt = await retro(['build', '--target', 'host', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '--out', host]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(readFileSync(join(`${host}.traces`, traceName)).equals(kept)).toBe(true);
    // A remote engine that computes something else fails the run.
    const trace = readFileSync(join(dir, 'trace.txt'), 'latin1');
    expect(trace.length).toBeGreaterThan(1000);
    writeFileSync(join(dir, 'model.rtr'), readFileSync(join(host, 'model.rtr')).fill(0, 60000, 60400));
    const bad = await retro(['run', '--target', 'host', '--bundle', host, '--remote-dir', dir, '-t', '0', '-n', '16', '--trace', ...ssh()]);
    expect(bad.code).toBe(1);
    expect(bad.stdout.toString()).toMatch(/FAIL/);
    // FTP cannot run programs: said plainly.
    oneLineError(await retro(['run', '--target', 'host', '--bundle', host, ...ftp()], withPassword(s.password)), /ftp cannot run programs/);
  });

  it('run where nothing is deployed: one line naming the folder and retro deploy; a failed make on the machine is a build failure, not the engine', async () => {
    const empty = join(s.home, 'never-deployed');
    const r = await retro(['run', '--target', 'host', '--bundle', host, '--remote-dir', empty, '-n', '8', ...ssh()]);
    oneLineError(r, new RegExp(`^retro: nothing deployed at ${s.user}@127\\.0\\.0\\.1:${empty} \\(fix: deploy the bundle first: retro deploy --target 'host' --bundle \\S+ \\(with the same connection flags\\), then run again\\)$`));
    expect(r.stderr).not.toMatch(/bash|No such file|engine exited/);
    // A PowerBook bundle: built on the machine by its Makefile, whose Apple GCC flags this x86 gcc refuses.
    const pb = (await runBuild({ target: 'powerbook-g4', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(work, 'pb'), compile: false })).out;
    const dir = join(s.home, 'pb');
    expect((await retro(['deploy', '--target', 'powerbook-g4', '--bundle', pb, '--remote-dir', dir, ...ssh()])).code).toBe(0);
    const made = await retro(['run', '--target', 'powerbook-g4', '--bundle', pb, '--remote-dir', dir, '-n', '8', ...ssh()]);
    oneLineError(made, /^retro: make failed on \S+ \(exit 2\): retro was not built there, so nothing ran \(fix: read make's messages above; the machine needs the C compiler its Makefile names\)$/);
    expect(made.stderr).not.toMatch(/engine exited/);
    expect(made.stderr).toMatch(/gcc/);
  });

  it('on a terminal: one live progress line (file, overall, MB/s, ETA); without one: plain lines', async (ctx) => {
    needTools(ctx, 'script');
    const src = join(work, 'm15.bin');
    writeSyntheticV0(src, { config: shapeConfig('15M'), sharedClassifier: true, seed: 5 });
    writeFileSync(join(work, 'tok32k.bin'), syntheticTokenizer(32000));
    const big = (await runBuild({ target: 'host', model: src, tokenizer: join(work, 'tok32k.bin'), quant: 'f32', groupSize: 32, out: join(work, 'host15'), compile: false })).out;
    const args = ['deploy', '--target', 'host', '--bundle', big, '--remote-dir', join(s.home, 'tty'), ...ssh()];
    // util-linux script gives the command a pseudo-terminal and records what it printed
    const tty = await execa('script', ['-qec', [process.execPath, RETRO, ...args].map((x) => `'${x}'`).join(' '), '/dev/null'], { reject: false });
    expect(tty.exitCode, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/\r\x1b\[Kmodel\.rtr \d+%  all [\d.]+ MB\/[\d.]+ MB \d+%  [\d.]+ MB\/s  ETA \d+s/);
    // Once the bytes are sent the line says the content is being checked, not "99% ETA 1s".
    expect(tty.stdout).toMatch(/ETA \d+s(\r\x1b\[K[^\r]*)*\r\x1b\[Kmodel\.rtr: checking its content \(asking the machine for a digest of [\d.]+ MB\)\r\x1b\[Kretro: model\.rtr: done in /);
    const plain = await retro([...args, '--remote-dir', join(s.home, 'plain')]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toMatch(/\x1b|\r/);
    expect(plain.stderr).toMatch(/^retro: model\.rtr: uploading \d+ bytes$/m);
    expect(plain.stderr).toMatch(/^retro: model\.rtr: done in [\d.]+s, sha256 checked$/m);
  });

  it('on a terminal without the variable, the password is asked for and never echoed', async (ctx) => {
    needTools(ctx, 'script');
    const cmd = [process.execPath, RETRO, 'deploy', '--target', 'win98-pentium2', '--bundle', w98, '--remote-dir', join(s.home, 'ASKED'), ...ftp()].map((x) => `'${x}'`).join(' ');
    // the answer arrives after the prompt, as a person would type it
    const r = await execa('sh', ['-c', `(sleep 3; printf '%s\\r' "$PW") | script -qec "${cmd.replace(/"/g, '\\"')}" /dev/null`], { env: { PW: s.password }, reject: false });
    expect(r.stdout).toMatch(new RegExp(`password for ${s.user}@127\\.0\\.0\\.1: `));
    expect(r.stdout).toMatch(new RegExp(`deployed to ${s.user}@127\\.0\\.0\\.1:.* over ftp`));
    expect(r.stdout).not.toContain(s.password);
    expect(readFileSync(join(s.home, 'ASKED', 'model.rtr')).equals(readFileSync(join(w98, 'model.rtr')))).toBe(true);
  });

  it('fetch over FTP: a trace written at the Win98 machine comes back and verifies', async () => {
    const dir = join(s.home, 'W98F');
    expect((await retro(['deploy', '--target', 'win98-pentium2', '--bundle', w98, '--remote-dir', dir, ...ftp()], withPassword(s.password))).code).toBe(0);
    // At the machine: the engine writes TRACE.TXT (the Pentium II build under qemu stands in for it).
    const p2 = loadProfile('win98-pentium2').cross.find((c) => c.id === 'linux-i686-p2')!;
    const run = await runBinary(p2, join(w98, 'retro.elf'), ['model.rtr', '-t', '0', '-n', '48', '-i', ONCE, '-T', 'TRACE.TXT'], { cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    const out = join(tempDir(), 'TRACE.TXT');
    const f = await retro(['fetch', '--target', 'win98-pentium2', '--remote-dir', dir, '--file', 'TRACE.TXT', '--out', out, ...ftp()], withPassword(s.password));
    expect(f.code, f.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(dir, 'TRACE.TXT')))).toBe(true);
    const v = await retro(['verify', '--target', 'win98-pentium2', '--bundle', w98, '--trace', out, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout.toString()).runs[0].positions).toBe(48);
    const missing = await retro(['fetch', '--target', 'win98-pentium2', '--remote-dir', dir, '--file', 'NOPE.TXT', '--out', join(work, 'NOPE.TXT'), ...ftp()], withPassword(s.password));
    oneLineError(missing, /NOPE\.TXT does not exist/);
    expect(existsSync(join(work, 'NOPE.TXT'))).toBe(false);
  });

  it('ftp: a rebuilt model of the same size replaces the old bytes, saying how it checked and at what cost; --size-only and --dry-run say what they do', async () => {
    const dir = join(s.home, 'STALE');
    const args = ['deploy', '--target', 'win98-pentium2', '--bundle', w98, '--remote-dir', dir, ...ftp()];
    expect((await retro(args, withPassword(s.password))).code).toBe(0);
    // The machine's model.rtr: same size, one float changed (a rebuild retro has not seen).
    const stale = readFileSync(join(w98, 'model.rtr'));
    stale.writeFloatLE(stale.readFloatLE(stale.length - 8) + 0.5, stale.length - 8);
    writeFileSync(join(dir, 'model.rtr'), stale);
    const sizeOnly = await retro([...args, '--size-only'], withPassword(s.password));
    expect(sizeOnly.code, sizeOnly.stderr).toBe(0);
    expect(sizeOnly.stderr).toMatch(/^retro: model\.rtr: skipped, already there \(size matches; content not checked: --size-only\)$/m);
    expect(sizeOnly.stdout.toString()).toMatch(/\(sizes only: content not checked, --size-only\)$/m);
    const dry = await retro([...args, '--dry-run'], withPassword(s.password));
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/^retro: model\.rtr: would check: same size; would read back [\d.]+ MB to compare content$/m);
    expect(dry.stdout.toString()).toMatch(/dry run: nothing was sent/);
    expect(readFileSync(join(dir, 'model.rtr')).equals(stale)).toBe(true);
    const r = await retro(args, withPassword(s.password));
    expect(r.code, r.stderr).toBe(0);
    noSecret(r);
    expect(r.stderr).toMatch(/^retro: model\.rtr: the machine holds other bytes of the same size \(read back [\d.]+ MB in [\d.]+s \(no digest command on the machine\), sha256 compared\); replacing it$/m);
    expect(r.stdout.toString()).toMatch(/model\.rtr\s+\d+\s+replaced/);
    // The read-back after the upload is said, before it starts: no silent wait.
    expect(r.stderr).toMatch(/^retro: model\.rtr: uploading \d+ bytes\nretro: model\.rtr: reading back [\d.]+ MB to check its content\nretro: model\.rtr: done in /m);
    expect(r.stdout.toString()).toMatch(/MB read back to check content/);
    expect(readFileSync(join(dir, 'model.rtr')).equals(readFileSync(join(w98, 'model.rtr')))).toBe(true);
    const forced = await retro([...args, '--force', '--json'], withPassword(s.password));
    expect(JSON.parse(forced.stdout.toString()).uploaded).toContain('model.rtr');
  });

  it('round trip over SSH: --mode forced runs forced, engine flags after --, the text ends before the stats, user@host:dir works', async () => {
    const dir = join(s.home, 'rt');
    const spec = `${s.user}@127.0.0.1:${dir}`;
    const keys = ['--port', String(s.ssh.port), '--identity', s.ssh.identity, '--known-hosts', s.ssh.knownHosts, '--via', 'ssh'];
    const d = await retro(['deploy', spec, '--target', 'host', '--bundle', host, ...keys]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout.toString()).toContain(`deployed to ${s.user}@127.0.0.1:${dir} over ssh`);
    const forced = await retro(['verify', spec, '--target', 'host', '--bundle', host, '--mode', 'forced', '-n', '24', '--json', ...keys]);
    expect(forced.code, forced.stderr).toBe(0);
    const runs = JSON.parse(forced.stdout.toString()).runs;
    expect(runs.map((r: { mode: string }) => r.mode)).toEqual(['forced']);
    expect(runs[0].positions).toBe(24);
    expect(existsSync(join(dir, 'forced.txt'))).toBe(true);
    // -v 1 is the engine's own flag; it reaches the engine, which then reports its memory.
    const r = await retro(['run', spec, '--target', 'host', '--bundle', host, '-n', '16', ...keys, '--', '-v', '1', '-j', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/achieved tok\/s/);
    expect(r.stderr).toMatch(/retro: kernels: \S+, 1 thread\n/);
    expect(r.stderr).toMatch(/retro: memory: /);
    // The text is flushed before the stats line: no stats inside the story.
    expect(r.stdout.toString()).not.toMatch(/achieved/);
    expect(r.stdout.toString().endsWith('\n')).toBe(true);
  });

  it('fetch defaults to TRACE.TXT on an 8.3 machine and prints the verify command; verify MACHINE --trace uses its target and bundle', async () => {
    const proj = tempDir();
    const dir = join(s.home, 'W98RT');
    writeFileSync(join(proj, 'retro.config.json'), JSON.stringify({ machines: { oldpc: { target: 'win98-pentium2', host: '127.0.0.1', via: 'ftp', port: s.ftp.port, user: s.user, remoteDir: dir, passwordEnv: 'OLDPC_PW', bundle: w98 } } }));
    const env = { cwd: proj, env: { OLDPC_PW: s.password } };
    expect((await retro(['deploy', 'oldpc'], env)).code).toBe(0);
    const p2 = loadProfile('win98-pentium2').cross.find((c) => c.id === 'linux-i686-p2')!;
    const run = await runBinary(p2, join(w98, 'retro.elf'), ['model.rtr', '-t', '0', '-n', '20', '-i', ONCE, '-T', 'TRACE.TXT'], { cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    const f = await retro(['fetch', 'oldpc'], env);
    expect(f.code, f.stderr).toBe(0);
    noSecret(f);
    const local = join(proj, 'TRACE.TXT');
    expect(f.stdout.toString()).toContain(`fetched TRACE.TXT from oldpc -> ${local}`);
    const cmd = /check it with:\n  (retro verify .*)\n/.exec(f.stdout.toString())![1];
    expect(cmd).toBe(`retro verify 'oldpc' --trace '${local}'`);
    // The printed command, run as printed (from the project folder).
    const v = await retro(['verify', 'oldpc', '--trace', local, '--json'], { cwd: proj });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout.toString()).runs[0].positions).toBe(20);

    // Cut short in the middle of a line (a crash): the positions there are compared, the cut is said.
    const text = readFileSync(local, 'latin1');
    const cutAt = text.indexOf('\n', text.indexOf('pos 12 ')) - 30;
    writeFileSync(join(proj, 'CUT.TXT'), text.slice(0, cutAt));
    const cut = await retro(['verify', 'oldpc', '--trace', join(proj, 'CUT.TXT'), '--json'], { cwd: proj });
    expect(cut.code).toBe(1);
    const cutRun = JSON.parse(cut.stdout.toString()).runs[0];
    expect(cutRun.positions).toBe(12);
    expect(cutRun.failures).toEqual([expect.stringMatching(/^the trace stops at line 14, cut short after position 11: positions 0\.\.11 were compared$/)]);

    // A trace of another model (same vocabulary, other weights) is called that.
    const other = join(work, 'other.bin');
    writeSyntheticV0(other, { config: shapeConfig('tiny'), sharedClassifier: true, seed: 7 });
    const otherBundle = (await runBuild({ target: 'win98-pentium2', model: other, tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(work, 'other-w98'), compile: false })).out;
    const wrong = await retro(['verify', '--target', 'win98-pentium2', '--bundle', otherBundle, '--trace', local]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout.toString()).toMatch(/FAIL \(pos 0 already differs by \d+% of the logits' size: a trace of another model/);
  });

  it('an sshd with only Mac OS X 10.4/10.5 algorithms: refused with what it offers and the setting; --ssh-legacy, retro.config.json and ~/.ssh/config entries deploy and run', async () => {
    const dir = join(s.home, 'oldmac');
    const o = s.oldSsh;
    const base = ['--target', 'host', '--bundle', host, '--remote-dir', dir];
    // Password logins: OpenSSH 9 advertises rsa-sha2 signatures (server-sig-algs) that an old server
    // would not; ssh-rsa key logins are tested against an ssh2 server (test/transport/legacy-ssh.test.ts).
    const flags = ['--via', 'ssh', '--host', '127.0.0.1', '--port', String(o.port), '--user', s.user, '--known-hosts', o.knownHosts];
    const pw = { env: { RETRO_PASSWORD: s.password, SSH_AUTH_SOCK: '' } };
    const refused = await retro(['deploy', ...base, ...flags], pw);
    oneLineError(refused, new RegExp(`no matching key exchange algorithm; the server offers ${o.offers.kex} \\(fix: an old server \\(Mac OS X 10\\.4/10\\.5\\): pass --ssh-legacy or set "ssh": \\{ "legacy": true \\}`));
    const legacy = await retro(['deploy', ...base, ...flags, '--ssh-legacy'], pw);
    noSecret(legacy);
    expect(legacy.code, legacy.stderr).toBe(0);
    expect(legacy.stderr).toMatch(/^retro: retro: done in [\d.]+s, sha256 checked$/m);
    const run = await retro(['run', ...base, ...flags, '--ssh-legacy', '-t', '0', '-n', '24', '-i', ONCE, '--trace'], pw);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString()).toMatch(/\s24\s+24\/24\s+\S+\s+\S+\s+PASS/);

    // The machine's entry in retro.config.json, with explicit lists.
    const proj = tempDir();
    writeFileSync(join(proj, 'retro.config.json'), JSON.stringify({ machines: { tiger: { target: 'host', host: '127.0.0.1', via: 'ssh', port: o.port, user: s.user, knownHosts: o.knownHosts, remoteDir: dir, bundle: host, ssh: { kex: ['+diffie-hellman-group14-sha1'], cipher: ['+aes128-cbc'] } } } }));
    const named = await retro(['deploy', 'tiger'], { cwd: proj, ...pw });
    expect(named.code, named.stderr).toBe(0);

    // An entry in ~/.ssh/config, as ssh itself reads it.
    const fakeHome = tempDir();
    mkdirSync(join(fakeHome, '.ssh'));
    writeFileSync(join(fakeHome, '.ssh', 'config'), [`Host leopard`, `  HostName 127.0.0.1`, `  Port ${o.port}`, `  User ${s.user}`, `  UserKnownHostsFile ${o.knownHosts}`, '  KexAlgorithms +diffie-hellman-group1-sha1', '  Ciphers +3des-cbc', '  MACs +hmac-md5', '  HostKeyAlgorithms +ssh-rsa', ''].join('\n'));
    const viaConfig = await retro(['deploy', ...base, '--via', 'ssh', '--host', 'leopard'], { env: { HOME: fakeHome, SSH_AUTH_SOCK: '', RETRO_PASSWORD: s.password } });
    expect(viaConfig.code, viaConfig.stderr).toBe(0);
    expect(viaConfig.stdout.toString()).toMatch(new RegExp(`deployed to ${s.user}@127\\.0\\.0\\.1:`));
  });

  it('a full disk on the machine: one line that says "disk full", no partial left, over SSH and FTP', async () => {
    for (const [via, flags, env] of [['ssh', ssh(), {}], ['ftp', ftp(), withPassword(s.password)]] as const) {
      const dir = join(s.home, `FULL${via}`);
      mkdirSync(dir);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0755', 'tmpfs', dir]);
      try {
        chownSync(dir, statSync(s.home).uid, statSync(s.home).gid);
        const r = await retro(['deploy', '--target', 'win98-pentium2', '--bundle', w98, '--remote-dir', dir, ...flags], env);
        oneLineError(r, new RegExp(`^retro: ${dir} on the machine: disk full: it took \\d+ bytes of model\\.rtr \\(\\d+ bytes\\), then refused the rest${via === 'ssh' ? '; \\d+ bytes free there after removing the partial copy' : ''} \\(fix: free at least [\\d.]+ MB there, then run deploy again\\)$`));
        noSecret(r);
        expect(readdirSync(dir).filter((n) => n.endsWith('.tmp') || n.endsWith('.partial'))).toEqual([]);
        expect(existsSync(join(dir, 'model.rtr'))).toBe(false);
      } finally {
        execFileSync('umount', [dir]);
      }
    }
  });
});
