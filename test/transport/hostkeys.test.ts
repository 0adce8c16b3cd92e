import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkHostKey, fingerprint } from '../../src/transport/hostkeys.js';
import { findMachine, readMachines } from '../../src/transport/machines.js';
import { tempDir } from '../helpers/fixtures.js';

const key = randomBytes(51);
const other = randomBytes(51);
const line = (host: string, k: Buffer) => `${host} ssh-ed25519 ${k.toString('base64')}`;
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

describe('host keys', () => {
  it('accepts a plain or hashed known_hosts entry for host:port, refuses unknown and changed keys', () => {
    const kh = join(tempDir(), 'known_hosts');
    writeFileSync(kh, `# comment\n${line('[10.0.0.2]:2222', key)}\n${line(hashed('mac.local'), key)}\n`);
    expect(checkHostKey(key, '10.0.0.2', 2222, kh, undefined)).toEqual({ ok: true });
    expect(checkHostKey(key, 'mac.local', 22, kh, undefined)).toEqual({ ok: true });
    expect(checkHostKey(other, 'mac.local', 22, kh, undefined)).toEqual({ ok: false, reason: 'changed', fingerprint: fingerprint(other) });
    expect(checkHostKey(key, '10.0.0.2', 22, kh, undefined)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(checkHostKey(key, 'nowhere', 22, join(tempDir(), 'missing'), undefined)).toMatchObject({ ok: false, reason: 'unknown' });
  });

  it('a pin wins over known_hosts, with or without base64 padding', () => {
    const fp = fingerprint(key);
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(checkHostKey(key, 'h', 22, undefined, fp)).toEqual({ ok: true });
    expect(checkHostKey(key, 'h', 22, undefined, `${fp}=`)).toEqual({ ok: true });
    expect(checkHostKey(other, 'h', 22, undefined, fp)).toMatchObject({ ok: false, reason: 'pin' });
  });
});

describe('retro.config.json', () => {
  it('reads named machines; an absent default file is no machines; errors name file and field', () => {
    const dir = tempDir();
    const p = join(dir, 'retro.config.json');
    expect(readMachines(p, false)).toEqual({});
    expect(() => readMachines(p, true)).toThrow(/config file not found/);
    writeFileSync(p, JSON.stringify({ machines: { g4: { target: 'powerbook-g4', host: 'g4.local', port: 2222 } } }));
    expect(findMachine('g4', readMachines(p, false), p)).toMatchObject({ host: 'g4.local', port: 2222 });
    expect(() => findMachine('pc', readMachines(p, false), p)).toThrow(/no machine named "pc"/);
    writeFileSync(p, JSON.stringify({ machines: { g4: { target: 'powerbook-g4', host: 'g4.local', port: 'ssh' } } }));
    expect(() => readMachines(p, false)).toThrow(/field machines\.g4\.port/);
    writeFileSync(p, '{ machines: ');
    expect(() => readMachines(p, false)).toThrow(/not valid JSON/);
  });
});
