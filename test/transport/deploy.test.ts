/**
 * Fault injection against real servers: the server is killed mid-transfer of a large file; the
 * next deploy resumes from what arrived and ends with identical bytes, and the final name never
 * holds wrong content.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/errors.js';
import { deployFiles, tempName, type DeployEvent, type DeployFile } from '../../src/transport/deploy.js';
import { protocol } from '../../src/transport/registry.js';
import type { Endpoint } from '../../src/transport/types.js';
import { tempDir } from '../helpers/fixtures.js';
import { needServers, oldFtpProxy, provideTools, serversMissing, startServers, type Servers } from '../helpers/servers.js';

const MB = 1048576;

describe('resumable, atomic, content-checked upload against real sshd, vsftpd and proftpd', () => {
  let s: Servers;
  let big: DeployFile;
  beforeEach((ctx) => needServers(ctx));
  beforeAll(async () => {
    // each test skips (or in CI fails) with the reason
    if (serversMissing()) return;
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
      await expect(deployFiles(t1, [big], dir, 'posix', onEvent)).rejects.toThrow(/the connection dropped while uploading/);
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

  /** Every way a remote can check content: its own digest (which one), or bytes read back. */
  const checkers = (): { name: string; via: 'ssh' | 'ftp'; endpoint: () => Endpoint; tools?: string[]; how: RegExp }[] => [
    { name: 'sshd with sha256sum', via: 'ssh', endpoint: () => endpoints().ssh, how: /^sha256 checked$/ },
    { name: 'sshd with md5sum only', via: 'ssh', endpoint: bare, tools: ['md5sum'], how: /^md5 checked$/ },
    { name: 'sshd with cksum only', via: 'ssh', endpoint: bare, tools: ['cksum'], how: /^cksum checked/ },
    { name: 'sshd without any digest tool', via: 'ssh', endpoint: bare, tools: [], how: /^read back [\d.]+ MB in [\d.]+s \(no digest command on the machine\), sha256 compared$/ },
    { name: 'vsftpd (no digest commands)', via: 'ftp', endpoint: () => endpoints().ftp, how: /^read back [\d.]+ MB in [\d.]+s \(no digest command on the machine\), sha256 compared$/ },
    { name: 'proftpd with mod_digest (HASH)', via: 'ftp', endpoint: () => ({ ...endpoints().ftp, port: s.digestFtp.port }), how: /^sha256 checked$/ },
    { name: 'proftpd that lists SIZE in FEAT but answers it 550', via: 'ftp', endpoint: sizeDenied, how: /^read back [\d.]+ MB in [\d.]+s \(no digest command on the machine\), sha256 compared$/ },
  ];
  const sizeDenied = (): Endpoint => ({ ...endpoints().ftp, port: s.sizeDeniedFtp.port });
  const bare = (): Endpoint => ({ host: '127.0.0.1', port: s.bareSsh.port, credentials: { user: s.user, identity: s.ssh.identity }, knownHosts: s.bareSsh.knownHosts });

  /** A 256 KB model whose rebuild changes one float: same size, other bytes. */
  const twoBuilds = () => {
    const dir = tempDir();
    const oldBytes = randomBytes(256 * 1024);
    oldBytes.writeFloatLE(0.25, 4096);
    const newBytes = Buffer.from(oldBytes);
    newBytes.writeFloatLE(0.2500001, 4096);
    const file = (b: Buffer, n: string): DeployFile => {
      writeFileSync(join(dir, n), b);
      return { name: 'model.rtr', local: join(dir, n), bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') };
    };
    return { old: file(oldBytes, 'old.rtr'), fresh: file(newBytes, 'new.rtr'), newBytes };
  };

  for (const c of checkers()) {
    it(`${c.name}: a same-size stale file is replaced, a corrupt partial is discarded, never renamed into place`, async () => {
      if (c.tools) provideTools(s.bareSsh.tools, c.tools);
      const dir = `${s.home}/stale-${c.name.replace(/\W+/g, '-')}`;
      const { old, fresh, newBytes } = twoBuilds();
      const t = await protocol(c.via).connect(c.endpoint());
      try {
        expect((await deployFiles(t, [old], dir, 'posix', () => {})).uploaded).toEqual(['model.rtr']);
        // The rebuilt file: same size, one float changed. A size check would keep the old bytes.
        const events: DeployEvent[] = [];
        const r = await deployFiles(t, [fresh], dir, 'posix', (e) => events.push(e));
        expect(r.replaced, JSON.stringify(events.filter((e) => e.kind !== 'progress'))).toEqual(['model.rtr']);
        expect(readFileSync(join(dir, 'model.rtr')).equals(newBytes)).toBe(true);
        const note = events.find((e) => e.kind === 'note');
        expect(note && note.kind === 'note' && note.message).toMatch(/other bytes of the same size/);
        const done = events.find((e) => e.kind === 'done');
        expect(done && done.kind === 'done' && done.checked).toMatch(c.how);
        // Between the last byte sent and "done", the check says what it does (not "99%, ETA 1s").
        const sent = events.map((e) => e.kind).lastIndexOf('progress');
        const after = events.slice(sent + 1, events.indexOf(done!));
        expect(after.at(0)).toMatchObject({ kind: 'checking', how: 'digest', done: 0, bytes: fresh.bytes });
        if (/read back/.test(c.how.source)) expect(after.at(-1)).toMatchObject({ kind: 'checking', how: 'read-back', done: fresh.bytes, bytes: fresh.bytes });
        // Unchanged now: skipped by content, saying how it was checked.
        const again: DeployEvent[] = [];
        expect((await deployFiles(t, [fresh], dir, 'posix', (e) => again.push(e))).skipped, JSON.stringify(again.filter((e) => e.kind !== 'progress'))).toEqual(['model.rtr']);
        const skip = again.find((e) => e.kind === 'skip');
        expect(skip && skip.kind === 'skip' && skip.reason).toMatch(/^already there \(/);
        // --size-only is an opt-out that says so, and keeps the stale bytes.
        const sizeOnly: DeployEvent[] = [];
        expect((await deployFiles(t, [old], dir, 'posix', (e) => sizeOnly.push(e), { check: 'size-only' })).skipped).toEqual(['model.rtr']);
        expect(sizeOnly.find((e) => e.kind === 'skip')).toMatchObject({ reason: expect.stringMatching(/content not checked: --size-only/) });
        expect(readFileSync(join(dir, 'model.rtr')).equals(newBytes)).toBe(true);

        // A partial an earlier, corrupted attempt left: as long as half the file, other bytes.
        const tmp = tempName(old, 'posix');
        writeFileSync(join(dir, tmp), Buffer.alloc(128 * 1024, 0x55));
        chownSync(join(dir, tmp), statSync(dir).uid, statSync(dir).gid);
        const corrupt: DeployEvent[] = [];
        let finalWrong = false;
        const r2 = await deployFiles(t, [old], dir, 'posix', (e) => {
          corrupt.push(e);
          if (!readFileSync(join(dir, 'model.rtr')).equals(newBytes) && !readFileSync(join(dir, 'model.rtr')).equals(readFileSync(old.local))) finalWrong = true;
        });
        expect(finalWrong).toBe(false);
        expect(r2.resumed).toEqual([]);
        expect(r2.bytesSent).toBe(old.bytes);
        expect(corrupt.find((e) => e.kind === 'note' && /are not the start of model\.rtr/.test(e.message))).toBeTruthy();
        expect(readFileSync(join(dir, 'model.rtr')).equals(readFileSync(old.local))).toBe(true);
        expect(readdirSync(dir)).toEqual(['model.rtr']);

        // A partial that is a true prefix resumes from its end.
        writeFileSync(join(dir, tempName(fresh, 'posix')), newBytes.subarray(0, 100000));
        chownSync(join(dir, tempName(fresh, 'posix')), statSync(dir).uid, statSync(dir).gid);
        const r3 = await deployFiles(t, [fresh], dir, 'posix', () => {});
        expect(r3.resumed).toEqual(['model.rtr']);
        expect(r3.bytesSent).toBe(fresh.bytes - 100000);
        expect(readFileSync(join(dir, 'model.rtr')).equals(newBytes)).toBe(true);

        // --dry-run changes nothing and says what it would do; --force resends.
        const plan: DeployEvent[] = [];
        const dry = await deployFiles(t, [old], dir, 'posix', (e) => plan.push(e), { dryRun: true });
        expect(dry.bytesSent).toBe(0);
        if (/read back/.test(c.how.source)) expect(plan).toEqual([{ kind: 'plan', file: 'model.rtr', action: 'check', detail: 'same size; would read back 0.3 MB to compare content' }]);
        else {
          expect(plan.map((e) => e.kind)).toEqual(['note', 'plan']);
          expect(plan[1]).toMatchObject({ action: 'send', detail: expect.stringMatching(/replacing other bytes.*then check its content/) });
        }
        expect(readFileSync(join(dir, 'model.rtr')).equals(newBytes)).toBe(true);
        const forced = await deployFiles(t, [fresh], dir, 'posix', () => {}, { force: true });
        expect(forced.bytesSent).toBe(fresh.bytes);
      } finally {
        t.close();
      }
    });
  }

  for (const via of ['ssh', 'ftp'] as const) {
    it(`${via}: a full disk (a 1 MB tmpfs) leaves no partial and says "disk full" with the space seen`, async () => {
      const dir = join(s.home, `full-${via}`);
      mkdirSync(dir);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', dir]);
      try {
        chownSync(dir, statSync(s.home).uid, statSync(s.home).gid);
        const t = await protocol(via).connect(endpoints()[via]);
        const small = { ...big, name: 'model.rtr', bytes: 3 * MB, local: join(tempDir(), 'm.rtr') };
        const data = readFileSync(big.local).subarray(0, small.bytes);
        writeFileSync(small.local, data);
        small.sha256 = createHash('sha256').update(data).digest('hex');
        const err = await deployFiles(t, [small], dir, 'posix', () => {}).then(
          () => undefined,
          (e: Error) => e,
        );
        t.close();
        expect(err?.message).toMatch(new RegExp(`^${dir}/? on the machine: disk full: it took \\d+ bytes of model\\.rtr \\(${small.bytes} bytes\\), then refused the rest${via === 'ssh' ? '; \\d+ bytes free there after removing the partial copy' : ''}$`));
        expect((err as TransportError).hint).toMatch(/free at least 3\.0 MB there/);
        expect(readdirSync(dir)).toEqual([]);
      } finally {
        execFileSync('umount', [dir]);
      }
    });
  }

  it('every test server listens on 127.0.0.1 alone, none on all interfaces', () => {
    const listening = (port: number) =>
      ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split(/\s+/))
          .filter((w) => w[3] === '0A' && parseInt(w[1].split(':')[1], 16) === port)
          .map((w) => w[1].split(':')[0]),
      );
    for (const [name, server] of Object.entries({ sshd: s.ssh, bareSshd: s.bareSsh, oldSshd: s.oldSsh, vsftpd: s.ftp, proftpd: s.digestFtp, proftpdNoSize: s.sizeDeniedFtp })) {
      // 0100007F is 127.0.0.1 as /proc/net/tcp writes it; 00000000 would be every interface.
      expect(listening(server.port), name).toEqual(['0100007F']);
    }
  });

  it('proftpd refusing SIZE (550) though FEAT lists it: sizes from LIST; the first deploy, --checksum and --force all succeed', async () => {
    const dir = `${s.home}/nosize`;
    const { old, fresh, newBytes } = twoBuilds();
    const t = await protocol('ftp').connect(sizeDenied());
    try {
      expect((await deployFiles(t, [old], dir, 'posix', () => {}, { check: 'checksum' })).uploaded).toEqual(['model.rtr']);
      expect(await t.size(`${dir}/model.rtr`)).toBe(old.bytes);
      expect(await t.size(`${dir}/absent.rtr`)).toBeUndefined();
      const forced = await deployFiles(t, [fresh], dir, 'posix', () => {}, { check: 'checksum', force: true });
      expect(forced.uploaded).toEqual(['model.rtr']);
      expect(readFileSync(join(dir, 'model.rtr')).equals(newBytes)).toBe(true);
      const again = await deployFiles(t, [fresh], dir, 'posix', () => {}, { check: 'checksum' });
      expect(again.skipped).toEqual(['model.rtr']);
      expect(again.bytesReadBack).toBe(fresh.bytes);
      expect(readdirSync(dir)).toEqual(['model.rtr']);
    } finally {
      t.close();
    }
  });

  for (const dosListing of [false, true]) {
    it(`an FTP server without FEAT, SIZE, MDTM, MLSD or EPSV (${dosListing ? 'DOS listing, capital names' : 'Unix listing'}): sizes from LIST, PASV, content read back`, async () => {
      const old = await oldFtpProxy(s.ftp.port, { hide: ['FEAT', 'SIZE', 'MDTM', 'MLSD', 'MLST', 'EPSV', 'EPRT', 'HASH', 'XSHA256', 'XSHA1', 'XMD5', 'XCRC'], dosListing });
      const dir = `${s.home}/OLD${dosListing ? 'DOS' : 'UNIX'}`;
      const { old: first, fresh, newBytes } = twoBuilds();
      try {
        const t = await protocol('ftp').connect({ ...endpoints().ftp, port: old.port });
        expect(await t.digest('/etc/hostname')).toBeUndefined();
        const r1 = await deployFiles(t, [first], dir, '8.3', () => {});
        expect(r1.uploaded).toEqual(['model.rtr']);
        // Listed back (in capitals, when DOS-style), found, and the size is the listing's.
        expect(await t.size(`${dir}/model.rtr`)).toBe(first.bytes);
        expect(await t.size(`${dir}/MODEL.RTR`)).toBe(first.bytes);
        const again: DeployEvent[] = [];
        expect((await deployFiles(t, [first], dir, '8.3', (e) => again.push(e))).skipped).toEqual(['model.rtr']);
        expect(again.find((e) => e.kind === 'skip')).toMatchObject({ reason: expect.stringMatching(/read back 0\.3 MB/) });
        const r2 = await deployFiles(t, [fresh], dir, '8.3', () => {});
        expect(r2.replaced).toEqual(['model.rtr']);
        t.close();
        expect(readFileSync(join(dir, 'model.rtr')).equals(newBytes)).toBe(true);
        expect(readdirSync(dir)).toEqual(['model.rtr']);
      } finally {
        old.close();
      }
    });
  }

  it('an FTP server whose only digest is XCRC: a CRC checks by default and says so; --checksum reads back instead', async () => {
    const crcOnly = await oldFtpProxy(s.digestFtp.port, { hide: [], unlisted: ['HASH', 'XSHA256', 'XSHA1', 'XSHA512', 'XSHA', 'XMD5', 'MD5', 'MMD5'] });
    const dir = `${s.home}/crc`;
    const { old, fresh, newBytes } = twoBuilds();
    try {
      const t = await protocol('ftp').connect({ ...endpoints().ftp, port: crcOnly.port });
      expect((await t.digest('/etc/hostname'))?.algo).toBe('crc32');
      await deployFiles(t, [old], dir, 'posix', () => {});
      const crc: DeployEvent[] = [];
      expect((await deployFiles(t, [fresh], dir, 'posix', (e) => crc.push(e))).replaced).toEqual(['model.rtr']);
      expect(crc.find((e) => e.kind === 'done')).toMatchObject({ checked: 'crc32 checked (a CRC: --checksum reads back instead)' });
      const strict: DeployEvent[] = [];
      const r = await deployFiles(t, [fresh], dir, 'posix', (e) => strict.push(e), { check: 'checksum' });
      t.close();
      expect(r.skipped).toEqual(['model.rtr']);
      expect(r.bytesReadBack).toBe(fresh.bytes);
      expect(strict.find((e) => e.kind === 'skip')).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/^already there \(read back 0\.3 MB in [\d.]+s \(the machine offers only crc32; --checksum\), sha256 compared\)$/) });
      expect(readFileSync(join(dir, 'model.rtr')).equals(newBytes)).toBe(true);
    } finally {
      crcOnly.close();
    }
  });
});
