/**
 * Real OpenSSH and vsftpd servers on 127.0.0.1 for the deploy tests, with a throwaway user,
 * password, host key and client key. Needs root (to start sshd and to add the user); in CI a
 * missing server or root is a failure, on a developer's machine a skip with the reason printed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'vitest';
import { tempDir } from './fixtures.js';
import { skipTest } from './tools.js';

/** RETRO_TEST_USER lets test runs side by side on one machine each have their own user (a run resets its password). */
export const TEST_USER = process.env.RETRO_TEST_USER ?? 'retrotest';
const SSHD = '/usr/sbin/sshd';
const VSFTPD = '/usr/sbin/vsftpd';
const PROFTPD = '/opt/proftpd/usr/sbin/proftpd';

/** What the deploy tests lack here (servers, root), or undefined. */
export function serversMissing(): string | undefined {
  const missing = [SSHD, VSFTPD, PROFTPD].filter((p) => !existsSync(p));
  if (process.getuid?.() !== 0) missing.push('root');
  return missing.length === 0 ? undefined : `deploy tests need ${missing.join(', ')} (scripts/install-toolchains.sh installs openssh-server, vsftpd and proftpd-core)`;
}

/** Skips the running test with the reason, or in CI fails it, unless the servers can start here. */
export function needServers(ctx: TestContext): void {
  const reason = serversMissing();
  if (reason) skipTest(ctx, { kind: 'tool', reason });
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${log()}`);
    const up = await new Promise<boolean>((ok) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        ok(true);
      });
      c.once('error', () => ok(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not listen on ${port}: ${log()}`);
}

/** Every process below `pid` (sessions a server forked), read from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export interface Server {
  port: number;
  /** Kills the server and every session it forked (SIGKILL), as a crash or power cut would. */
  kill(): void;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

function serve(argv: string[], port: number): Server & { start(): Promise<void> } {
  let child: ChildProcess | undefined;
  let log = '';
  const s = {
    port,
    async start() {
      log = '';
      child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (b) => (log += b));
      child.stderr!.on('data', (b) => (log += b));
      await waitForPort(port, child, () => log);
    },
    kill() {
      if (!child?.pid) return;
      for (const p of [child.pid, ...descendants(child.pid)]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      child = undefined;
    },
    async restart() {
      s.kill();
      await new Promise((r) => setTimeout(r, 100));
      await s.start();
    },
  };
  return s;
}

export interface Servers {
  base: string;
  /** The user's home: the remote machine's file system, readable here to compare bytes. */
  home: string;
  user: string;
  password: string;
  ssh: Server & { identity: string; knownHosts: string; hostKeyFingerprint: string; otherIdentity: string };
  /**
   * A second sshd whose sessions see only the programs linked into `tools` (PATH is that folder):
   * a machine without sha256sum, shasum or anything else, as the test arranges.
   */
  bareSsh: Server & { knownHosts: string; tools: string };
  /**
   * An sshd restricted to what Mac OS X 10.4/10.5 OpenSSH offers: SHA-1 key exchange, CBC ciphers,
   * hmac-sha1/md5, an ssh-rsa host key and ssh-rsa (SHA-1) signatures for an RSA client key.
   */
  oldSsh: Server & { knownHosts: string; identity: string; offers: { kex: string; cipher: string; hmac: string; hostKey: string } };
  ftp: Server;
  /** ProFTPD with mod_digest: FEAT offers HASH and XSHA256/XSHA1/XMD5/XCRC. */
  digestFtp: Server;
  /** ProFTPD that lists SIZE in FEAT but refuses it (`<Limit SIZE> DenyAll`): sizes only from LIST. */
  sizeDeniedFtp: Server;
  stop(): void;
}

/** Makes `names` (and only them) the programs a bare-sshd session finds. */
export function provideTools(dir: string, names: string[]): void {
  for (const f of readdirSync(dir)) rmSync(join(dir, f));
  for (const n of names) symlinkSync(execFileSync('sh', ['-c', `command -v ${n}`]).toString().trim(), join(dir, n));
}

export async function startServers(): Promise<Servers> {
  const base = tempDir('retro-servers-');
  chmodSync(base, 0o755);
  try {
    execFileSync('id', [TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-M', '-s', '/bin/bash', TEST_USER]);
  }
  const password = `pw-${randomBytes(9).toString('hex')}`;
  execFileSync('chpasswd', { input: `${TEST_USER}:${password}\n` });
  const uid = Number(execFileSync('id', ['-u', TEST_USER]).toString());
  const gid = Number(execFileSync('id', ['-g', TEST_USER]).toString());
  const home = join(base, 'home');
  mkdirSync(home);
  chownSync(home, uid, gid);
  execFileSync('usermod', ['-d', home, TEST_USER]);

  const key = (name: string) => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(base, name)]);
    return join(base, name);
  };
  const hostKey = key('host_key');
  const identity = key('client_key');
  const otherIdentity = key('stranger_key');
  writeFileSync(join(base, 'authorized_keys'), readFileSync(`${identity}.pub`));
  const sshPort = await freePort();
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`]).toString().split(' ')[1];
  const knownHosts = join(base, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshPort} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  mkdirSync('/run/sshd', { recursive: true });
  const sshdConfig = join(base, 'sshd_config');
  writeFileSync(
    sshdConfig,
    [
      `Port ${sshPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(base, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${TEST_USER}`,
      'Subsystem sftp internal-sftp',
      `PidFile ${join(base, 'sshd.pid')}`,
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );

  const ftpPort = await freePort();
  const pasv = 20000 + Math.floor(Math.random() * 20000);
  const vsftpdConfig = join(base, 'vsftpd.conf');
  writeFileSync(
    vsftpdConfig,
    [
      'listen=YES',
      'listen_address=127.0.0.1',
      `listen_port=${ftpPort}`,
      'background=NO',
      'anonymous_enable=NO',
      'local_enable=YES',
      'write_enable=YES',
      'local_umask=022',
      'pasv_enable=YES',
      'pasv_address=127.0.0.1',
      `pasv_min_port=${pasv}`,
      `pasv_max_port=${pasv + 20}`,
      'seccomp_sandbox=NO',
      'pam_service_name=vsftpd',
      `local_root=${home}`,
      'xferlog_enable=NO',
      '',
    ].join('\n'),
  );

  const barePort = await freePort();
  const tools = join(base, 'tools');
  mkdirSync(tools);
  const bareConfig = join(base, 'sshd_bare_config');
  writeFileSync(bareConfig, readFileSync(sshdConfig, 'utf8').replace(`Port ${sshPort}`, `Port ${barePort}`).replace(/PidFile .*/, `PidFile ${join(base, 'sshd_bare.pid')}\nSetEnv PATH=${tools}`));
  const bareKnownHosts = join(base, 'known_hosts_bare');
  writeFileSync(bareKnownHosts, readFileSync(knownHosts, 'utf8').replace(`]:${sshPort} `, `]:${barePort} `));

  const oldPort = await freePort();
  const oldHostKey = join(base, 'old_host_rsa');
  const oldIdentity = join(base, 'old_client_rsa');
  for (const k of [oldHostKey, oldIdentity]) execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-f', k]);
  writeFileSync(join(base, 'authorized_keys'), readFileSync(`${identity}.pub`, 'utf8') + readFileSync(`${oldIdentity}.pub`, 'utf8'));
  const offers = { kex: 'diffie-hellman-group-exchange-sha1,diffie-hellman-group14-sha1,diffie-hellman-group1-sha1', cipher: 'aes128-cbc,3des-cbc,aes256-cbc', hmac: 'hmac-md5,hmac-sha1', hostKey: 'ssh-rsa' };
  const oldConfig = join(base, 'sshd_old_config');
  writeFileSync(
    oldConfig,
    readFileSync(sshdConfig, 'utf8')
      .replace(`Port ${sshPort}`, `Port ${oldPort}`)
      .replace(`HostKey ${hostKey}`, `HostKey ${oldHostKey}`)
      .replace(/PidFile .*/, `PidFile ${join(base, 'sshd_old.pid')}\nKexAlgorithms ${offers.kex}\nCiphers ${offers.cipher}\nMACs ${offers.hmac}\nHostKeyAlgorithms ${offers.hostKey}\nPubkeyAcceptedAlgorithms ssh-rsa`),
  );
  const oldKnownHosts = join(base, 'known_hosts_old');
  writeFileSync(oldKnownHosts, `[127.0.0.1]:${oldPort} ${readFileSync(`${oldHostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);

  /** ProFTPD bound to 127.0.0.1 alone (SocketBindTight: else it listens on every interface). */
  const proftpd = async (name: string, extra: string[]) => {
    const port = await freePort();
    const config = join(base, `${name}.conf`);
    writeFileSync(
      config,
      [
        'ModulePath /opt/proftpd/usr/lib/proftpd',
        ...extra,
        'ServerType standalone',
        `Port ${port}`,
        'DefaultAddress 127.0.0.1',
        'SocketBindTight on',
        'UseIPv6 off',
        'User nobody',
        'Group nogroup',
        `PidFile ${join(base, `${name}.pid`)}`,
        `ScoreboardFile ${join(base, `${name}.score`)}`,
        'DelayTable none',
        'WtmpLog off',
        'RequireValidShell off',
        'AuthOrder mod_auth_unix.c',
        'Umask 022',
        'AllowOverwrite on',
        'AllowStoreRestart on',
        '<Limit ALL>',
        '  AllowAll',
        '</Limit>',
        '',
      ].join('\n'),
    );
    return serve([PROFTPD, '-n', '-q', '-c', config], port);
  };
  const digestFtp = await proftpd('proftpd', ['LoadModule mod_digest.c', 'DigestEngine on']);
  // FEAT still lists SIZE; the command itself is answered 550.
  const sizeDeniedFtp = await proftpd('proftpd-nosize', ['<Limit SIZE>', '  DenyAll', '</Limit>']);

  const ssh = serve([SSHD, '-f', sshdConfig, '-D', '-e'], sshPort);
  const bareSsh = serve([SSHD, '-f', bareConfig, '-D', '-e'], barePort);
  const oldSsh = serve([SSHD, '-f', oldConfig, '-D', '-e'], oldPort);
  const ftp = serve([VSFTPD, vsftpdConfig], ftpPort);
  await Promise.all([ssh.start(), bareSsh.start(), oldSsh.start(), ftp.start(), digestFtp.start(), sizeDeniedFtp.start()]);
  return {
    base,
    home,
    user: TEST_USER,
    password,
    ssh: Object.assign(ssh, { identity, knownHosts, hostKeyFingerprint: fp, otherIdentity }),
    bareSsh: Object.assign(bareSsh, { knownHosts: bareKnownHosts, tools }),
    oldSsh: Object.assign(oldSsh, { knownHosts: oldKnownHosts, identity: oldIdentity, offers }),
    ftp,
    digestFtp,
    sizeDeniedFtp,
    stop() {
      for (const x of [ssh, bareSsh, oldSsh, ftp, digestFtp, sizeDeniedFtp]) x.kill();
    },
  };
}

export interface OldFtpOptions {
  /** Commands the old server does not know: answered "500 Unknown command" without reaching vsftpd. */
  hide: string[];
  /** Features it does not list in its FEAT reply (and refuses as commands). */
  unlisted?: string[];
  /** Directory listings as a Windows FTP server writes them (MM-DD-YY  HH:MMPM  size NAME), names in capitals. */
  dosListing?: boolean;
}

/** Writes a Unix `ls -l` line the way an MS-DOS/Windows FTP server lists it. */
function dosLine(unix: string): string {
  const m = /^([d-])\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\w+\s+\d+\s+[\d:]+\s+(.*)$/.exec(unix.trim());
  if (!m) return unix;
  const name = m[3].toUpperCase();
  return m[1] === 'd' ? `01-02-99  03:04PM       <DIR>          ${name}` : `01-02-99  03:04PM ${m[2].padStart(20)} ${name}`;
}

/**
 * A 1990s FTP server, imitated in front of the real vsftpd: the commands it lacks are refused and,
 * optionally, its listings are DOS-style. Data connections pass through (PASV answers point here).
 */
export async function oldFtpProxy(upstreamPort: number, opts: OldFtpOptions): Promise<{ port: number; close(): void }> {
  const hidden = new Set([...opts.hide, ...(opts.unlisted ?? [])].map((c) => c.toUpperCase()));
  const unlisted = new Set((opts.unlisted ?? []).map((c) => c.toUpperCase()));
  const sockets = new Set<import('node:net').Socket>();
  const track = (s: import('node:net').Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s)));
  const server = createServer((client) => {
    track(client);
    const up = track(connect(upstreamPort, '127.0.0.1'));
    let lastCommand = '';
    let pending = '';
    client.on('data', (b) => {
      pending += b.toString('latin1');
      let i: number;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i + 1);
        pending = pending.slice(i + 1);
        const cmd = line.trim().split(' ')[0].toUpperCase();
        if (hidden.has(cmd)) {
          client.write('500 Unknown command.\r\n');
          continue;
        }
        lastCommand = cmd;
        up.write(line, 'latin1');
      }
    });
    let replies = '';
    up.on('data', (b) => {
      replies += b.toString('latin1');
      let i: number;
      while ((i = replies.indexOf('\n')) >= 0) {
        const line = replies.slice(0, i + 1);
        replies = replies.slice(i + 1);
        // A FEAT line is " NAME args": left out when the server is not to have NAME.
        if (/^ \S/.test(line) && unlisted.has(line.trim().split(' ')[0].toUpperCase())) continue;
        const pasv = /^227 .*\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(line);
        if (!pasv || !opts.dosListing) {
          client.write(line, 'latin1');
          continue;
        }
        // The data connection comes here, so a listing can be rewritten on its way.
        const dataPort = Number(pasv[5]) * 256 + Number(pasv[6]);
        const relay = createServer((dc) => {
          relay.close();
          track(dc);
          const ud = track(connect(dataPort, '127.0.0.1'));
          dc.pipe(ud);
          // The command comes after the data connection opens: decided when the data flows.
          let listing: boolean | undefined;
          let text = '';
          ud.on('data', (d) => {
            listing ??= lastCommand === 'LIST';
            if (listing) text += d.toString('latin1');
            else dc.write(d);
          });
          ud.on('end', () => (listing ? dc.end(text.split('\r\n').map((l) => (l ? dosLine(l) : l)).join('\r\n'), 'latin1') : dc.end()));
          dc.on('error', () => ud.destroy());
        });
        relay.listen(0, '127.0.0.1', () => {
          const p = (relay.address() as { port: number }).port;
          client.write(`227 Entering Passive Mode (127,0,0,1,${p >> 8},${p & 255}).\r\n`);
        });
      }
    });
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as { port: number }).port,
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
