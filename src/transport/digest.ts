/**
 * The digests a remote machine may compute for us (FTP HASH/XSHA256/XSHA1/XMD5/XCRC; sha256sum,
 * md5, openssl or POSIX cksum over SSH), computed here the same way over the local file (or its
 * first bytes, to prove a partial upload is a prefix), so the two can be compared.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { crc32 } from 'node:zlib';

export type DigestAlgo = 'sha256' | 'sha1' | 'md5' | 'crc32' | 'cksum';

export interface Digest {
  algo: DigestAlgo;
  hex: string;
}

/** Cryptographic digests: a match means the bytes are the same. CRCs only catch accidents. */
export const STRONG: ReadonlySet<DigestAlgo> = new Set(['sha256', 'sha1', 'md5']);

/** A running digest, fed chunk by chunk. */
export interface Hasher {
  update(b: Buffer): void;
  hex(): string;
}

/** POSIX cksum: CRC-32 (polynomial 0x04C11DB7, MSB first) over the data and then its length. */
const CKSUM_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function cksumHasher(): Hasher {
  let crc = 0;
  let length = 0;
  const step = (byte: number) => {
    crc = ((crc << 8) ^ CKSUM_TABLE[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
  };
  return {
    update(b) {
      for (const byte of b) step(byte);
      length += b.length;
    },
    hex() {
      for (let n = length; n > 0; n = Math.floor(n / 256)) step(n & 0xff);
      return String((~crc) >>> 0);
    },
  };
}

export function hasher(algo: DigestAlgo): Hasher {
  if (algo === 'cksum') return cksumHasher();
  if (algo === 'crc32') {
    let c = 0;
    return { update: (b) => (c = crc32(b, c)), hex: () => c.toString(16).padStart(8, '0') };
  }
  const h = createHash(algo);
  return { update: (b) => h.update(b), hex: () => h.digest('hex') };
}

/** The digest of a local file's first `length` bytes (all of it when omitted). */
export function localDigest(path: string, algo: DigestAlgo, length?: number): Promise<string> {
  return new Promise((ok, fail) => {
    if (length === 0) return ok(hasher(algo).hex());
    const h = hasher(algo);
    createReadStream(path, length === undefined ? {} : { start: 0, end: length - 1 })
      .on('data', (d) => h.update(d as Buffer))
      .on('end', () => ok(h.hex()))
      .on('error', fail);
  });
}

/** Equal digests, ignoring case and the leading zeros some servers drop from a CRC. */
export function sameDigest(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().toLowerCase().replace(/^0+(?=.)/, '');
  return norm(a) === norm(b);
}
