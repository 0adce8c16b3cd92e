/**
 * Fault injection against real servers: the server is killed mid-transfer of a large file; the
 * next deploy resumes from what arrived and ends with identical bytes, and the final name never
 * holds wrong content.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployFiles, tempName, type DeployEvent, type DeployFile } from '../../src/transport/deploy.js';
import { protocol } from '../../src/transport/registry.js';
import type { Endpoint } from '../../src/transport/types.js';
import { tempDir } from '../helpers/fixtures.js';
import { haveServers, startServers, type Servers } from '../helpers/servers.js';

const enabled = haveServers();
const MB = 1048576;

describe.runIf(enabled)('resumable, atomic upload against real sshd and vsftpd', () => {
  let s: Servers;
  let big: DeployFile;
  beforeAll(async () => {
    s = await startServers();
    const local = join(tempDir(), 'big.rtr');
    const data = randomBytes(48 * MB);
    writeFileSync(local, data);
    big = { name: 'big.rtr', local, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  });
  afterAll(() => s?.stop());

  const endpoints = (): Record<string, Endpoint> => ({
    ssh: { host: '127.0.0.1', port: s.ssh.port, credentials: { user: s.user, identity: s.ssh.identity }, knownHosts: s.ssh.knownHosts },
    ftp: { host: '127.0.0.1', port: s.ftp.port, credentials: { user: s.user, password: s.password } },
  });

  for (const via of ['ssh', 'ftp'] as const) {
    it(`${via}: killed at ~30% of 48 MB, the next deploy resumes and the bytes are identical`, async () => {
      const server = via === 'ssh' ? s.ssh : s.ftp;
      const dir = `${s.home}/fault-${via}`;
      const final = join(dir, big.name);
      const partial = join(dir, tempName(big, 'posix'));

      const t1 = await protocol(via).connect(endpoints()[via]);
      let killedAt = 0;
      let finalSeenDuringTransfer = false;
      const onEvent = (e: DeployEvent) => {
        if (e.kind !== 'progress') return;
        if (existsSync(final)) finalSeenDuringTransfer = true;
        if (killedAt === 0 && e.done > 0.3 * big.bytes) {
          killedAt = e.done;
          server.kill();
        }
      };
      await expect(deployFiles(t1, [big], dir, 'posix', onEvent)).rejects.toThrow();
      t1.close();
      expect(killedAt).toBeGreaterThan(0);
      expect(finalSeenDuringTransfer).toBe(false);
      expect(existsSync(final)).toBe(false);
      const arrived = statSync(partial).size;
      expect(arrived).toBeGreaterThan(0);
      expect(arrived).toBeLessThan(big.bytes);

      await server.restart();
      const t2 = await protocol(via).connect(endpoints()[via]);
      const events: DeployEvent[] = [];
      const r = await deployFiles(t2, [big], dir, 'posix', (e) => events.push(e));
      t2.close();
      expect(r.resumed).toEqual([big.name]);
      const start = events.find((e) => e.kind === 'start');
      expect(start && start.kind === 'start' && start.resumeFrom).toBe(arrived);
      expect(r.bytesSent).toBe(big.bytes - arrived);
      expect(createHash('sha256').update(readFileSync(final)).digest('hex')).toBe(big.sha256);
      expect(readdirSync(dir)).toEqual([big.name]);

      // A third run finds the file right and sends nothing.
      const t3 = await protocol(via).connect(endpoints()[via]);
      const again = await deployFiles(t3, [big], dir, 'posix', () => {});
      t3.close();
      expect(again.skipped).toEqual([big.name]);
      expect(again.bytesSent).toBe(0);
    });
  }

  it('a temporary file with wrong bytes is never renamed into place', async () => {
    const dir = `${s.home}/corrupt`;
    const t = await protocol('ssh').connect(endpoints().ssh);
    const small = { ...big, bytes: 4096, local: join(tempDir(), 'small.bin') };
    const bytes = readFileSync(big.local).subarray(0, 4096);
    writeFileSync(small.local, bytes);
    small.sha256 = createHash('sha256').update(bytes).digest('hex');
    // What an earlier, corrupted attempt left: the full size but other bytes.
    await t.ensureDir(dir);
    const { Readable } = await import('node:stream');
    await t.write(Readable.from([Buffer.alloc(4096, 0x55)]), `${dir}/${tempName(small, 'posix')}`, 0, () => {});
    await expect(deployFiles(t, [small], dir, 'posix', () => {})).rejects.toThrow(/did not verify/);
    t.close();
    expect(existsSync(join(dir, small.name))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
