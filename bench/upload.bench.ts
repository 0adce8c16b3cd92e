/**
 * Upload throughput on loopback: retro's FTP and SFTP transports against `curl -T` on the same
 * real vsftpd and sshd, same 100 MB file, same run. Prints a Markdown table.
 * Usage: npm run bench:upload   (needs root, openssh-server, vsftpd, curl)
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { deployFiles, type DeployFile } from '../src/transport/deploy.js';
import { protocol } from '../src/transport/registry.js';
import type { Endpoint } from '../src/transport/types.js';
import { tempDir } from '../test/helpers/fixtures.js';
import { startServers } from '../test/helpers/servers.js';

const MB = 1048576;
const ROUNDS = 3;

it('upload throughput, 100 MB, loopback', async () => {
  const s = await startServers();
  try {
    const dir = tempDir();
    const local = join(dir, 'payload.bin');
    const data = randomBytes(100 * MB);
    writeFileSync(local, data);
    const file: DeployFile = { name: 'payload.bin', local, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    const netrc = join(dir, 'netrc');
    writeFileSync(netrc, `machine 127.0.0.1 login ${s.user} password ${s.password}\n`, { mode: 0o600 });
    const endpoints: Record<string, Endpoint> = {
      sftp: { host: '127.0.0.1', port: s.ssh.port, credentials: { user: s.user, identity: s.ssh.identity }, knownHosts: s.ssh.knownHosts },
      ftp: { host: '127.0.0.1', port: s.ftp.port, credentials: { user: s.user, password: s.password } },
    };
    const curlArgs: Record<string, string[]> = {
      sftp: ['--key', s.ssh.identity, '--pubkey', `${s.ssh.identity}.pub`, '-k', '-u', `${s.user}:`, '-T', local, `sftp://127.0.0.1:${s.ssh.port}${s.home}/curl-sftp/payload.bin`, '--ftp-create-dirs'],
      ftp: ['--netrc-file', netrc, '-T', local, `ftp://127.0.0.1:${s.ftp.port}${s.home}/curl-ftp/payload.bin`, '--ftp-create-dirs'],
    };
    const rows: string[][] = [];
    for (const via of ['ftp', 'sftp']) {
      let retroBest = 0;
      let curlBest = 0;
      for (let round = 0; round < ROUNDS; round++) {
        rmSync(join(s.home, `retro-${via}`), { recursive: true, force: true });
        const t = await protocol(via).connect(endpoints[via]);
        const r = await deployFiles(t, [file], `${s.home}/retro-${via}`, 'posix', () => {});
        t.close();
        retroBest = Math.max(retroBest, file.bytes / MB / r.seconds);
        rmSync(join(s.home, `curl-${via}`), { recursive: true, force: true });
        const t0 = performance.now();
        await execa('curl', ['-sS', ...curlArgs[via]]);
        curlBest = Math.max(curlBest, file.bytes / MB / ((performance.now() - t0) / 1000));
      }
      rows.push([via, `${retroBest.toFixed(0)} MB/s`, `${curlBest.toFixed(0)} MB/s`, `${((100 * retroBest) / curlBest).toFixed(0)}%`]);
    }
    console.log(`\nMachine: ${cpus().length} x ${cpus()[0]?.model}, Node ${process.version}; 100 MB, best of ${ROUNDS}; retro's time includes the sha256/size check and the rename\n`);
    console.log('| protocol | retro deploy | curl -T | retro / curl |\n| --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } finally {
    s.stop();
  }
}, 600_000);
