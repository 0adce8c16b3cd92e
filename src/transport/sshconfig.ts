/**
 * SSH algorithm settings for old servers, and the entries of ~/.ssh/config that apply to a host
 * (where owners of old Macs keep `HostKeyAlgorithms +ssh-rsa` and the like). docs/ssh-legacy.md
 * lists what Mac OS X 10.4 and 10.5 offer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import type { SshAlgorithms } from './types.js';

/**
 * What Mac OS X 10.4 (OpenSSH 4.5) and 10.5 (OpenSSH 5.1) can negotiate that today's defaults
 * leave out, added after the modern algorithms (which are still preferred when offered).
 */
export const LEGACY_ALGORITHMS: SshAlgorithms = {
  kex: ['+diffie-hellman-group-exchange-sha1', '+diffie-hellman-group14-sha1', '+diffie-hellman-group1-sha1'],
  cipher: ['+aes128-cbc', '+aes192-cbc', '+aes256-cbc', '+3des-cbc'],
  hmac: ['+hmac-sha1', '+hmac-md5', '+hmac-sha1-96', '+hmac-md5-96'],
  serverHostKey: ['+ssh-rsa', '+ssh-dss'],
};

/** ~/.ssh/config keywords retro honours, and the field each sets. */
const ALGORITHM_KEYS: Record<string, keyof SshAlgorithms> = { kexalgorithms: 'kex', ciphers: 'cipher', macs: 'hmac', hostkeyalgorithms: 'serverHostKey' };

export interface SshHostConfig {
  hostName?: string;
  port?: number;
  user?: string;
  identityFile?: string;
  userKnownHostsFile?: string;
  algorithms: SshAlgorithms;
}

/** `*` and `?` patterns, `!` negation, as ssh_config(5) matches Host lines. */
function hostMatches(patterns: string[], host: string): boolean {
  const re = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  if (patterns.some((p) => p.startsWith('!') && re(p.slice(1)).test(host))) return false;
  return patterns.some((p) => !p.startsWith('!') && re(p).test(host));
}

const home = (p: string) => p.replace(/^~(?=\/|$)/, homedir());

/** The settings of an ssh config file for `host`: the first value of each keyword wins, as in ssh. */
export function readSshConfig(path: string | undefined, host: string): SshHostConfig {
  const out: SshHostConfig = { algorithms: {} };
  if (!path || !existsSync(path)) return out;
  let applies = true;
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.+)$/.exec(line);
    if (!m) continue;
    const key = m[1].toLowerCase();
    const value = m[2].trim().replace(/^"(.*)"$/, '$1');
    if (key === 'host') {
      applies = hostMatches(value.split(/\s+/), host);
      continue;
    }
    if (key === 'match') {
      applies = value.toLowerCase() === 'all';
      continue;
    }
    if (!applies) continue;
    if (key === 'hostname') out.hostName ??= value.replace(/%h/g, host);
    else if (key === 'port') out.port ??= Number(value);
    else if (key === 'user') out.user ??= value;
    else if (key === 'identityfile') out.identityFile ??= home(value);
    else if (key === 'userknownhostsfile') out.userKnownHostsFile ??= home(value.split(/\s+/)[0]);
    else if (key in ALGORITHM_KEYS) {
      const field = ALGORITHM_KEYS[key];
      // "+a,b" appends to the defaults, "a,b" replaces them; "-" and "^" forms are read as "+" (retro only adds).
      const list = value.replace(/^[-^]/, '+');
      out.algorithms[field] ??= list.startsWith('+') ? list.slice(1).split(',').map((a) => `+${a}`) : list.split(',');
    }
  }
  return out;
}

/** Later settings add to (`+name`) or replace the earlier ones, field by field. */
export function mergeAlgorithms(...layers: (SshAlgorithms | undefined)[]): SshAlgorithms | undefined {
  const out: SshAlgorithms = {};
  for (const layer of layers) {
    for (const [k, list] of Object.entries(layer ?? {}) as [keyof SshAlgorithms, string[]][]) {
      if (!list?.length) continue;
      out[k] = list.every((a) => a.startsWith('+')) ? [...new Set([...(out[k] ?? []), ...list])] : list;
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/** ssh2's form: an exact list, or `{ append }` to the library's defaults. */
export function ssh2Algorithms(a: SshAlgorithms | undefined): Record<string, string[] | { append: string[] }> | undefined {
  if (!a) return undefined;
  const out: Record<string, string[] | { append: string[] }> = {};
  for (const [k, list] of Object.entries(a) as [string, string[]][]) {
    const plus = list.filter((x) => x.startsWith('+')).map((x) => x.slice(1));
    const exact = list.filter((x) => !x.startsWith('+'));
    out[k] = exact.length ? [...exact, ...plus.filter((x) => !exact.includes(x))] : { append: plus };
  }
  return out;
}
