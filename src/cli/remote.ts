/** deploy, run and fetch: the commands that talk to the real machine. */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { runDeploy } from '../core/deploy.js';
import { runServe } from '../core/serve.js';
import type { RemoteRequest, Secrets } from '../transport/remote.js';
import { parseModes } from '../core/verify.js';
import { runCalibrate } from '../core/calibrate.js';
import { machineTarget, runFetch, runRemote } from '../core/run.js';
import { UsageError } from '../errors.js';
import type { DeployEvent } from '../transport/deploy.js';
import { consoleOutput, interrupts, print, printJson, printJsonLine, printVerify, table, verifyJson } from './io.js';
import { parseSeed, promptBytes } from './options.js';

/** Reads a line from the terminal without echoing it. */
function askHidden(prompt: string): Promise<string> {
  return new Promise((ok, fail) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const done = (e?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (e) fail(e);
      else ok(value);
    };
    const onData = (b: Buffer) => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UsageError('password prompt cancelled', 'set the password environment variable instead'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export const secrets: Secrets = {
  async password(envName, prompt) {
    const v = process.env[envName];
    if (v !== undefined) return v;
    return process.stdin.isTTY ? askHidden(prompt) : undefined;
  },
  agent: process.env.SSH_AUTH_SOCK || undefined,
  knownHosts: join(homedir(), '.ssh', 'known_hosts'),
  sshConfig: join(homedir(), '.ssh', 'config'),
  user: userInfo().username,
};

export interface RemoteArgs {
  machine?: string;
  config?: string;
  target?: string;
  targets?: string;
  via?: string;
  host?: string;
  port?: number;
  user?: string;
  'remote-dir'?: string;
  identity?: string;
  'known-hosts'?: string;
  'host-key-sha256'?: string;
  'password-env'?: string;
  'ssh-legacy'?: boolean;
  timeout: number;
  bundle?: string;
  json?: boolean;
}

/** Which machine: a name from retro.config.json (or user@host:dir), its target and bundle. */
function machineOptions<T>(y: Argv<T>) {
  return y
    .positional('machine', { type: 'string', describe: 'a machine named in retro.config.json, or user@host:dir' })
    .option('config', { type: 'string', describe: 'project config file (default ./retro.config.json)' })
    .option('target', { type: 'string', describe: 'target id or profile .json (default: the machine\'s)' })
    .option('targets', { type: 'string', describe: 'a folder of your own profiles' })
    .option('bundle', { type: 'string', describe: 'bundle folder (default dist/<target>)' });
}

export function remoteOptions<T>(y: Argv<T>) {
  return machineOptions(y)
    .option('via', { type: 'string', describe: 'transfer protocol: ftp or ssh (default: the profile\'s)' })
    .option('host', { type: 'string', describe: 'host name or address of the machine' })
    .option('port', { type: 'number' })
    .option('user', { type: 'string', describe: 'login name (default: yours)' })
    .option('remote-dir', { type: 'string', describe: 'folder on the machine (default: the profile\'s)' })
    .option('identity', { type: 'string', describe: 'SSH private key file (else the agent, else a password)' })
    .option('known-hosts', { type: 'string', describe: 'known_hosts file (default ~/.ssh/known_hosts)' })
    .option('host-key-sha256', { type: 'string', describe: 'pin the SSH host key: SHA256:... as ssh-keygen -l prints it' })
    .option('password-env', { type: 'string', describe: 'environment variable holding the password (default RETRO_PASSWORD); else you are asked' })
    .option('ssh-legacy', { type: 'boolean', describe: 'also offer the SSH algorithms of Mac OS X 10.4/10.5 (SHA-1 key exchange, CBC ciphers, ssh-rsa); see docs/ssh-legacy.md' })
    .option('timeout', { type: 'number', default: 15, describe: 'seconds to wait for the connection' })
    .option('json', { type: 'boolean', describe: 'machine-readable output' });
}

function remoteRequest(a: RemoteArgs): RemoteRequest {
  return {
    machine: a.machine,
    config: a.config,
    target: a.target,
    targetsDir: a.targets,
    via: a.via,
    host: a.host,
    port: a.port,
    user: a.user,
    remoteDir: a['remote-dir'],
    identity: a.identity,
    knownHosts: a['known-hosts'],
    hostKeySha256: a['host-key-sha256'],
    passwordEnv: a['password-env'],
    sshLegacy: a['ssh-legacy'],
    timeoutMs: a.timeout * 1000,
  };
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
const secs = (s: number) => (Number.isFinite(s) ? `${Math.ceil(s)}s` : '?');

/** A live progress line on a terminal, plain lines otherwise, nothing with --json. */
function progressPrinter(json: boolean): (e: DeployEvent) => void {
  const tty = process.stderr.isTTY === true && !json;
  let last = 0;
  return (e) => {
    if (json) return;
    if (e.kind === 'progress') {
      const now = Date.now();
      if (!tty || now - last < 100) return;
      last = now;
      const pct = (n: number, d: number) => `${d === 0 ? 100 : Math.floor((100 * n) / d)}%`;
      process.stderr.write(`\r\x1b[K${e.file} ${pct(e.done, e.bytes)}  all ${mb(e.overallDone)}/${mb(e.overallBytes)} ${pct(e.overallDone, e.overallBytes)}  ${mb(e.rate)}/s  ETA ${secs(e.etaSeconds)}`);
      return;
    }
    if (e.kind === 'checking') {
      // Not 99%: the bytes are sent and the check can take as long as the upload.
      const what = e.how === 'digest' ? `${e.file}: checking its content (asking the machine for a digest of ${mb(e.bytes)})` : `${e.file}: reading back ${mb(e.done)}/${mb(e.bytes)} to check its content`;
      if (tty) {
        const now = Date.now();
        if (e.done > 0 && e.done < e.bytes && now - last < 100) return;
        last = now;
        process.stderr.write(`\r\x1b[K${what}`);
      } else if (e.how === 'read-back' && e.done === 0) process.stderr.write(`retro: ${e.file}: reading back ${mb(e.bytes)} to check its content\n`);
      return;
    }
    if (tty) process.stderr.write('\r\x1b[K');
    if (e.kind === 'skip') process.stderr.write(`retro: ${e.file}: skipped, ${e.reason}\n`);
    if (e.kind === 'note') process.stderr.write(`retro: ${e.file}: ${e.message}\n`);
    if (e.kind === 'plan') process.stderr.write(`retro: ${e.file}: would ${e.action === 'check' ? 'check' : e.action}: ${e.detail}\n`);
    if (e.kind === 'start') process.stderr.write(`retro: ${e.file}: uploading ${e.bytes} bytes${e.resumeFrom > 0 ? `, resuming at ${e.resumeFrom}` : ''}\n`);
    if (e.kind === 'done') process.stderr.write(`retro: ${e.file}: done in ${e.seconds.toFixed(1)}s, ${e.checked}\n`);
  };
}

interface DeployArgs extends RemoteArgs {
  checksum?: boolean;
  'size-only'?: boolean;
  force?: boolean;
  'dry-run'?: boolean;
}

const deployCommand: CommandModule<object, DeployArgs> = {
  command: 'deploy [machine]',
  describe: 'upload a bundle to the real machine over FTP or SSH (resumable, checked by content, atomic)',
  builder: (y) =>
    remoteOptions(y)
      .option('checksum', { type: 'boolean', describe: 'check content by a cryptographic digest or by reading it back, never by a CRC alone' })
      .option('size-only', { type: 'boolean', describe: 'check sizes only (faster over FTP servers without digest commands; content NOT checked)' })
      .option('force', { type: 'boolean', describe: 'resend every file, whatever the machine holds' })
      .option('dry-run', { type: 'boolean', describe: 'say what would be sent, skipped and checked; change nothing' })
      .conflicts('checksum', 'size-only') as never,
  handler: async (a) => {
    const check = a.checksum ? 'checksum' : a['size-only'] ? 'size-only' : 'content';
    const r = await runDeploy({ ...remoteRequest(a), bundle: a.bundle, check, force: a.force, dryRun: a['dry-run'] }, secrets, progressPrinter(a.json === true));
    if (a.json) {
      printJson({ machine: r.machine, protocol: r.protocol, remoteDir: r.remoteDir, check: r.check, dryRun: r.dryRun, uploaded: r.uploaded, skipped: r.skipped, resumed: r.resumed, replaced: r.replaced, bytesSent: r.bytesSent, bytesReadBack: r.bytesReadBack, seconds: r.seconds });
      return;
    }
    if (r.dryRun) {
      print(`dry run: nothing was sent to ${r.machine}:${r.remoteDir}`);
      return;
    }
    const state = (n: string) => (r.skipped.includes(n) ? 'already there' : r.replaced.includes(n) ? 'replaced' : r.resumed.includes(n) ? 'resumed' : 'uploaded');
    print(table(['file', 'bytes', 'state'], r.files.map((f) => [f.name, String(f.bytes), state(f.name)])));
    const readBack = r.bytesReadBack > 0 ? `, ${mb(r.bytesReadBack)} read back to check content` : '';
    const sizeOnly = r.check === 'size-only' ? ' (sizes only: content not checked, --size-only)' : '';
    print(`deployed to ${r.machine}:${r.remoteDir} over ${r.protocol}: ${mb(r.bytesSent)} sent in ${r.seconds.toFixed(1)}s${readBack}${sizeOnly}`);
  },
};

export interface RunArgs extends RemoteArgs {
  mode?: string;
  '--'?: (string | number)[];
  temperature: number;
  topp: number;
  seed?: string;
  steps: number;
  prompt: string;
  trace?: boolean;
}

const runCommand: CommandModule<object, RunArgs> = {
  command: 'run [machine]',
  describe: 'run the deployed engine on the machine over SSH, live; --trace fetches the trace and verifies it; engine flags go after --',
  builder: (y) =>
    remoteOptions(y)
      .option('temperature', { alias: 't', type: 'number', default: 0 })
      .option('topp', { alias: 'p', type: 'number', default: 0.9 })
      .option('seed', { alias: 's', type: 'string' })
      .option('steps', { alias: 'n', type: 'number', default: 64 })
      .option('prompt', { alias: 'i', type: 'string', default: 'Once upon a time' })
      .option('trace', { type: 'boolean', describe: 'write a trace on the machine, fetch it and run retro verify on it' }) as never,
  handler: (a) => runOnMachine(a, a.trace === true),
};

/** retro run, and retro verify --via ssh: run on the machine, stream its output, verify its trace. */
export async function runOnMachine(a: RunArgs, trace: boolean): Promise<void> {
  const json = a.json === true;
  const text: Uint8Array[] = [];
  const r = await runRemote(
    { ...remoteRequest(a), bundle: a.bundle, temperature: a.temperature, topp: a.topp, seed: parseSeed(a.seed), steps: a.steps, prompt: promptBytes(a.prompt), trace, modes: a.mode ? parseModes(a.mode) : undefined, engineFlags: a['--']?.map(String) },
    secrets,
    { stdout: (b) => (json ? text.push(b) : consoleOutput.stdout(b)), stderr: (b) => process.stderr.write(b) },
    (m) => json || process.stderr.write(`retro: ${m}\n`),
  );
  if (json && !trace) printJson({ exitCode: r.exitCode, output: Buffer.concat(text).toString('utf8') });
  if (r.verify) printVerify(r.verify, json);
  if (r.exitCode !== 0) {
    process.stderr.write(`retro: the engine exited with ${r.exitCode} on the machine (fix: read its message above)\n`);
    process.exitCode = 1;
  }
}

interface FetchArgs extends RemoteArgs {
  file?: string;
  out?: string;
}

const fetchCommand: CommandModule<object, FetchArgs> = {
  command: 'fetch [machine]',
  describe: 'download a file (a trace) the engine wrote on the machine, for retro verify --trace',
  builder: (y) =>
    remoteOptions(y)
      .option('file', { type: 'string', describe: 'remote file, relative to the remote dir (default TRACE.TXT on 8.3 machines, else trace.txt)' })
      .option('out', { alias: 'o', type: 'string', describe: 'local path (default: the file name, here)' }) as never,
  handler: async (a) => {
    const r = await runFetch({ ...remoteRequest(a), bundle: a.bundle, file: a.file, out: a.out }, secrets);
    if (a.json) printJson(r);
    else print(`fetched ${r.file} from ${r.machine} -> ${r.local} (${r.bytes} bytes); check it with:\n  ${r.verifyCommand}`);
  },
};

interface CalibrateArgs extends RemoteArgs {
  profile?: string;
  steps: number;
  result?: string;
}

const calibrateCommand: CommandModule<object, CalibrateArgs> = {
  command: 'calibrate [machine]',
  describe: "time the deployed engine on the machine (over SSH, or from a result file it left) and write the measured speed into your profile, for retro plan",
  builder: (y) =>
    remoteOptions(y)
      .option('profile', { type: 'string', describe: "your profile file to write (created extending the machine's target if missing; default: the target's file, when it is yours)" })
      .option('steps', { alias: 'n', type: 'number', default: 256, describe: 'tokens to time (capped by the model\'s context)' })
      .option('result', { type: 'string', describe: 'where nothing runs remotely: the file with the engine\'s "achieved tok/s" line, relative to the remote dir (default CALIB.TXT on 8.3 machines, else calib.txt)' }) as never,
  handler: async (a) => {
    const r = await runCalibrate({ ...remoteRequest(a), bundle: a.bundle, profile: a.profile, steps: a.steps, result: a.result }, secrets, (m) => a.json || process.stderr.write(`retro: ${m}\n`));
    if (a.json) {
      printJson({ profileFile: r.profileFile, machine: r.machine, quant: r.quant, tokensPerSecond: r.tokensPerSecond, macsPerToken: r.macsPerToken, measured: r.measured, from: r.from });
      return;
    }
    print(`${r.machine}: ${r.tokensPerSecond} tok/s for ${r.quant} (${(r.macsPerToken / 1e6).toFixed(2)} M multiply-adds per token): ${r.measured.cyclesPerMac} cycles per multiply-add at ${r.profile.cpu.clockMhz} MHz`);
    print(`written to ${r.profileFile} (estimate.measured.${r.quant}); retro plan --target ${r.profileFile} uses it`);
  },
};

interface ServeArgs {
  machine?: string;
  config?: string;
  target?: string;
  targets?: string;
  bundle?: string;
  address?: string;
  'ftp-port': number;
  'http-port': number;
  steps: number;
  prompt: string;
  json?: boolean;
}

const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve [machine]',
  describe: 'serve the bundle on the LAN (FTP and HTTP) for a machine that pulls it; verify the TRACE.TXT it sends back',
  builder: (y) =>
    machineOptions(y)
      .option('address', { type: 'string', describe: 'address to serve on (default: this computer\'s LAN address; 0.0.0.0 only if you say so)' })
      .option('ftp-port', { type: 'number', default: 2121 })
      .option('http-port', { type: 'number', default: 8080 })
      .option('steps', { alias: 'n', type: 'number', default: 64, describe: 'the run the person at the machine is told to do' })
      .option('prompt', { alias: 'i', type: 'string', default: 'Once upon a time' })
      .option('json', { type: 'boolean', describe: 'one JSON object per line: "serving" at start, then "verdict" or "error" per upload, "stopped" at the end' }) as never,
  handler: async (a) => {
    const json = a.json === true;
    const fix = (e: Error) => ('hint' in e ? (e as { hint: string }).hint : 'this is a bug in retro');
    const session = await runServe(
      { machine: a.machine, config: a.config, target: a.target, targetsDir: a.targets, bundle: a.bundle, address: a.address, ftpPort: a['ftp-port'], httpPort: a['http-port'], steps: a.steps, prompt: a.prompt },
      (v, via, trace) => (json ? printJsonLine({ event: 'verdict', via, trace, ...verifyJson(v) }) : printVerify(v, false)),
      (e) => (json ? printJsonLine({ event: 'error', kind: e.constructor.name, message: e.message, fix: fix(e) }) : process.stderr.write(`retro: ${e.message} (fix: ${fix(e)})\n`)),
      (m) => json || process.stderr.write(`retro: ${m}\n`),
    );
    const { close: _, ...shown } = session;
    if (json) printJsonLine({ event: 'serving', ...shown, profile: session.profile.id });
    else {
      print(`serving ${session.bundle} (${session.files.length} files) on ${session.address}: ftp port ${session.ftpPort}, http port ${session.httpPort}`);
      print(`one-time password: ${session.password}   (user ${session.user}; a new one every start)`);
      for (const l of session.instructions) print(l);
      print('\nGET.TXT:');
      print(session.getTxt.trimEnd().replace(/\r/g, ''));
      print('\nPUT.TXT:');
      print(session.putTxt.trimEnd().replace(/\r/g, ''));
      print(`\nwaiting for TRACE.TXT (each one kept in ${session.traces}, at most ${session.maxUploadBytes / 1048576} MB); Ctrl-C stops`);
    }
    interrupts.handledByCommand = true;
    await new Promise<void>((ok) => process.once('SIGINT', ok));
    await session.close();
    if (json) printJsonLine({ event: 'stopped' });
  },
};

export const remoteCommands = [deployCommand, runCommand, fetchCommand, calibrateCommand, serveCommand];
