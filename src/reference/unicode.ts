/**
 * What the pre-tokenizer regexes ask of a code point (\p{L}, \p{N}, \s), taken from Node's own
 * Unicode data (its RegExp), as runs that model.rtr stores for the C engine; and UTF-8 decoding
 * with the WHATWG replacement rule (TextDecoder's), which the engine repeats byte for byte.
 */
export const CP_OTHER = 0;
export const CP_LETTER = 1;
export const CP_NUMBER = 2;
export const CP_SPACE = 3;
export const MAX_CODE_POINT = 0x10ffff;

let cached: Uint32Array | undefined;

/** Runs of one class over 0..U+10FFFF, each `start << 2 | class`, ascending; the first starts at 0. */
export function categoryRuns(): Uint32Array {
  if (cached) return cached;
  const letter = /\p{L}/u;
  const number = /\p{N}/u;
  const space = /\s/u;
  const runs: number[] = [];
  let last = -1;
  for (let cp = 0; cp <= MAX_CODE_POINT; cp++) {
    const s = cp >= 0xd800 && cp <= 0xdfff ? '' : String.fromCodePoint(cp);
    const c = s === '' ? CP_OTHER : letter.test(s) ? CP_LETTER : number.test(s) ? CP_NUMBER : space.test(s) ? CP_SPACE : CP_OTHER;
    if (c !== last) runs.push(((cp << 2) | c) >>> 0);
    last = c;
  }
  cached = Uint32Array.from(runs);
  return cached;
}

/** The class of `cp`: the run that starts at or before it (binary search, as the engine does). */
export function categoryOf(runs: Uint32Array, cp: number): number {
  let lo = 0;
  let hi = runs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (runs[mid] >>> 2 <= cp) lo = mid;
    else hi = mid - 1;
  }
  return runs[lo] & 3;
}

export interface DecodedText {
  /** Code points, invalid sequences replaced by U+FFFD. */
  cps: number[];
  /** The same text as valid UTF-8 (what the tokenizer cuts into pieces). */
  bytes: Uint8Array;
  /** Byte offset in `bytes` of every code point, and one past the end. */
  offsets: number[];
}

/** WHATWG UTF-8 decoding (a maximal invalid subpart becomes one U+FFFD), re-encoded as valid UTF-8. */
export function decodeUtf8(input: Uint8Array): DecodedText {
  const cps: number[] = [];
  let need = 0;
  let seen = 0;
  let cp = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < input.length; i++) {
    const b = input[i];
    if (need === 0) {
      if (b <= 0x7f) cps.push(b);
      else if (b >= 0xc2 && b <= 0xdf) (need = 1), (cp = b & 0x1f);
      else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        if (b === 0xed) upper = 0x9f;
        need = 2;
        cp = b & 0x0f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
        need = 3;
        cp = b & 0x07;
      } else cps.push(0xfffd);
      continue;
    }
    if (b < lower || b > upper) {
      cps.push(0xfffd);
      need = seen = cp = 0;
      lower = 0x80;
      upper = 0xbf;
      i--; // the byte starts over
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    if (++seen === need) {
      cps.push(cp);
      need = seen = cp = 0;
    }
  }
  if (need !== 0) cps.push(0xfffd);
  const offsets: number[] = [];
  const out: number[] = [];
  for (const c of cps) {
    offsets.push(out.length);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  offsets.push(out.length);
  return { cps, bytes: Uint8Array.from(out), offsets };
}

/** Length of the UTF-8 sequence a lead byte starts (1 for ASCII), 0 for a byte that cannot start one. */
export function utf8SequenceLength(b: number): number {
  return b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
}
