/**
 * retro calibrate against the loopback machine (a real sshd and vsftpd on 127.0.0.1): the deployed
 * host engine is timed over SSH, or its result file fetched over FTP, and the measured speed
 * lands in the user's profile, which retro plan then follows.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { BUILTIN_TARGETS } from '../../src/profile/load.js';
import { retro } from '../helpers/cli.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { needServers, serversMissing, startServers, type Servers } from '../helpers/servers.js';
import { needTools, toolsProblem } from '../helpers/tools.js';

describe('retro calibrate on the loopback machine', () => {
  let s: Servers;
  let work: string;
  let bundle: string;
  const inputs = () => ['--model', model('stories260K.bin'), '--tokenizer', model('tok512.bin')];
  beforeEach((ctx) => {
    needServers(ctx);
    needTools(ctx, 'gcc');
  });
  beforeAll(async () => {
    // each test skips (or in CI fails) with the reason
    if (serversMissing() || toolsProblem('gcc')) return;
    s = await startServers();
    work = tempDir();
    bundle = (await runBuild({ model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 32, compile: true, target: 'host', out: join(work, 'host') })).out;
  });
  afterAll(() => s?.stop());

  const ssh = (dir: string) => ['--target', 'host', '--bundle', bundle, '--remote-dir', dir, '--via', 'ssh', '--host', '127.0.0.1', '--port', String(s.ssh.port), '--user', s.user, '--identity', s.ssh.identity, '--known-hosts', s.ssh.knownHosts];
  const planQ8 = async (target: string) => {
    const r = await retro(['plan', '--target', target, ...inputs(), '--quant', 'q8', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout.toString()).options.find((o: { mode: string }) => o.mode === 'ram').estimate;
  };
  const oneLine = (r: { code: number; stderr: string }, pattern: RegExp) => {
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.includes('(fix: ')), r.stderr).toHaveLength(1);
    expect(lines.at(-1)).toMatch(pattern);
  };

  it('over SSH: times the deployed engine, writes the user profile (never targets/), and plan follows the written figures', async () => {
    const dir = join(s.home, 'cal');
    const d = await retro(['deploy', ...ssh(dir)]);
    expect(d.code, d.stderr).toBe(0);
    const builtin = readFileSync(join(BUILTIN_TARGETS, 'host.json'));
    // The built-in profile is never written: the fix names --profile.
    oneLine(await retro(['calibrate', ...ssh(dir)]), /targets\/host\.json: a built-in profile; retro calibrate writes only your own profiles \(fix: pass --profile \.\/my-host\.json/);
    expect(readFileSync(join(BUILTIN_TARGETS, 'host.json')).equals(builtin)).toBe(true);

    const mine = join(work, 'my-host.json');
    const r = await retro(['calibrate', ...ssh(dir), '--profile', mine, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.toString());
    expect(out.from).toBe('ssh');
    expect(out.quant).toBe('q8');
    expect(out.tokensPerSecond).toBeGreaterThan(0);
    expect(readFileSync(join(BUILTIN_TARGETS, 'host.json')).equals(builtin)).toBe(true);
    const written = JSON.parse(readFileSync(mine, 'utf8'));
    expect(written.extends).toBe('host');
    expect(Object.keys(written.estimate.measured)).toEqual(['q8']);
    const cycles = written.estimate.measured.q8.cyclesPerMac;
    // The figure is the engine's tok/s turned into cycles at the profile's clock (2500 MHz).
    expect(cycles).toBeCloseTo(2500e6 / (out.tokensPerSecond * out.macsPerToken), 1);
    expect(written.estimate.measured.q8.how).toMatch(/^retro calibrate \d{4}-\d\d-\d\d on retrotest@127\.0\.0\.1: [\d.]+ tok\/s \(the engine's wall clock, 256 tokens, one thread\) for .* as q8/);
    expect(existsSync(join(work, '.my-host.json.partial'))).toBe(false);

    // plan uses the measured figure, and says so.
    const est = await planQ8(mine);
    expect(est.source).toBe('measured');
    expect(est.calibrated).toBe(true);
    expect(est.seconds.compute).toBeCloseTo((out.macsPerToken * cycles) / 2500e6, 12);
    expect(est.assumptions.at(-1)).toMatch(/cycles per multiply-add for q8, measured: retro calibrate/);
    const text = await retro(['plan', '--target', mine, ...inputs(), '--quant', 'q8']);
    expect(text.stdout.toString()).toMatch(/\(ESTIMATE, \w+-bound, calibrated on the machine\)/);
    // Follow the written figure: ten times the cycles is a tenth of the compute speed.
    written.estimate.measured.q8.cyclesPerMac = cycles * 10;
    writeFileSync(mine, JSON.stringify(written));
    expect((await planQ8(mine)).seconds.compute).toBeCloseTo((10 * out.macsPerToken * cycles) / 2500e6, 12);

    // Calibrating again updates only estimate.measured.q8 of the existing file.
    written.name = 'my own host';
    writeFileSync(mine, JSON.stringify(written));
    const again = await retro(['calibrate', ...ssh(dir), '--profile', mine, '-n', '64', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const after = JSON.parse(readFileSync(mine, 'utf8'));
    expect(after.name).toBe('my own host');
    expect(after.estimate.measured.q8.how).toMatch(/64 tokens, one thread/);
    expect(after.estimate.measured.q8.cyclesPerMac).not.toBe(cycles * 10);
  });

  it('where nothing runs remotely: reads the engine\'s result file over FTP; a missing one leaves the profile whole', async () => {
    const dir = join(s.home, 'calftp');
    const ftp = ['--target', 'host', '--bundle', bundle, '--remote-dir', dir, '--via', 'ftp', '--host', '127.0.0.1', '--port', String(s.ftp.port), '--user', s.user];
    const env = { env: { RETRO_PASSWORD: s.password } };
    expect((await retro(['deploy', ...ftp], env)).code).toBe(0);
    const mine = join(work, 'ftp-host.json');
    const before = JSON.stringify({ extends: 'host', name: 'kept as it is' });
    writeFileSync(mine, before);
    oneLine(await retro(['calibrate', ...ftp, '--profile', mine], env), /calib\.txt does not exist \(fix: run the engine at the machine with -t 0 -n 256 -j 1 -T calib\.txt/);
    expect(readFileSync(mine, 'utf8')).toBe(before);
    // The person at the machine runs the engine with a trace (stderr cannot be kept on Windows 98 or from XeLL): it ends with the tok/s.
    const run = spawnSync('./retro', ['model.rtr', '-t', '0', '-n', '128', '-i', ONCE, '-j', '1', '-T', 'calib.txt'], { cwd: dir, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const trace = readFileSync(join(dir, 'calib.txt'), 'utf8');
    const tps = Number(/^# achieved tok\/s: ([\d.]+) \(wall clock, \d+ tokens after the first\)\n$/m.exec(trace)![1]);
    // The same figure as on stderr, and the trace still verifies with it.
    expect(run.stderr).toContain(`achieved tok/s: ${trace.match(/# achieved tok\/s: ([\d.]+)/)![1]}\n`);
    const v = await retro(['verify', '--target', 'host', '--bundle', bundle, '--trace', join(dir, 'calib.txt'), '--json']);
    expect(v.code, v.stderr).toBe(0);
    const r = await retro(['calibrate', ...ftp, '--profile', mine, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.toString());
    expect(out.from).toBe(`${dir}/calib.txt`);
    expect(out.tokensPerSecond).toBe(tps);
    const written = JSON.parse(readFileSync(mine, 'utf8'));
    expect(written.name).toBe('kept as it is');
    expect(written.estimate.measured.q8.cyclesPerMac).toBeCloseTo(2500e6 / (tps * out.macsPerToken), 1);
    expect(written.estimate.measured.q8.how).toContain(`read from ${dir}/calib.txt`);
    expect((await planQ8(mine)).calibrated).toBe(true);
  });
});
