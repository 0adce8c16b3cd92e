/** SSH host-key checking against known_hosts (plain and hashed entries) or a pinned SHA256 fingerprint. */
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function hostPatterns(host: string, port: number): string[] {
  return port === 22 ? [host] : [`[${host}]:${port}`];
}

function matches(field: string, names: string[]): boolean {
  return field.split(',').some((f) => {
    if (f.startsWith('|1|')) {
      const [, , salt, hash] = f.split('|');
      return names.some((n) => createHmac('sha1', Buffer.from(salt, 'base64')).update(n).digest('base64') === hash);
    }
    return names.includes(f);
  });
}

export type HostKeyVerdict = { ok: true } | { ok: false; reason: 'unknown' | 'changed' | 'pin'; fingerprint: string };

/** Accepts the key only when the pin or a known_hosts entry for this host matches it. */
export function checkHostKey(key: Buffer, host: string, port: number, knownHosts: string | undefined, pin: string | undefined): HostKeyVerdict {
  const fp = fingerprint(key);
  if (pin) return pin.replace(/=+$/, '') === fp ? { ok: true } : { ok: false, reason: 'pin', fingerprint: fp };
  let known = false;
  if (knownHosts && existsSync(knownHosts)) {
    const names = hostPatterns(host, port);
    for (const line of readFileSync(knownHosts, 'utf8').split('\n')) {
      const parts = line.trim().split(/\s+/);
      if (parts.length < 3 || parts[0].startsWith('#') || parts[0].startsWith('@')) continue;
      if (!matches(parts[0], names)) continue;
      known = true;
      if (Buffer.from(parts[2], 'base64').equals(key)) return { ok: true };
    }
  }
  return { ok: false, reason: known ? 'changed' : 'unknown', fingerprint: fp };
}
