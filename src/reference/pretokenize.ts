/**
 * The pre-tokenizer regexes of byte-level BPE, each as a hand-written scanner over code point
 * classes (unicode.ts), because the C engine has no regex library. The scanners try the regex's
 * alternatives in its order at every position, as the regex engine does; a test runs both on the
 * same text. Each scanner returns the end index of every piece, in order.
 *
 * llama3 (Llama 3, `llama-bpe`):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * gpt2 (GPT-2 and most byte-level BPE):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * smollm (SmolLM): every digit alone (\p{N}), then gpt2 on the text between digits.
 * qwen2 (Qwen2, Qwen2.5, Qwen3): llama3's with single digits, \p{N} for \p{N}{1,3}.
 */
import { CP_LETTER, CP_NUMBER, CP_OTHER, CP_SPACE } from './unicode.js';

export const PRE_TOKENIZERS = ['llama3', 'gpt2', 'smollm', 'qwen2'] as const;
export type PreTokenizer = (typeof PRE_TOKENIZERS)[number];

export const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const QWEN2_REGEX = LLAMA3_REGEX.replace('\\p{N}{1,3}', '\\p{N}');
export const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const QUOTE = 0x27;
const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;

const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 32 : c);
const isCrLf = (c: number) => c === CR || c === LF;

/** Length of a contraction at i ('s 't 'm 'd 're 've 'll), 0 if none; ASCII case folded when `fold`. */
function contraction(cps: number[], i: number, end: number, fold: boolean): number {
  if (cps[i] !== QUOTE || i + 1 >= end) return 0;
  const f = fold ? lower : (c: number) => c;
  const a = f(cps[i + 1]);
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return 2;
  if (i + 2 >= end) return 0;
  const b = f(cps[i + 2]);
  return (a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c) ? 3 : 0;
}

/** End of the run of class `cls` starting at i. */
function runEnd(cls: Uint8Array, i: number, end: number, c: number): number {
  while (i < end && cls[i] === c) i++;
  return i;
}

/** \s+(?!\S) then \s+ at a whitespace run [i, r): all of it at the end of the text, else all but its last character. */
function spaceRun(i: number, r: number, end: number): number {
  return r === end || r - i < 2 ? r : r - 1;
}

/** llama3's regex, with runs of up to `maxDigits` digits (3; qwen2's 1). */
function llama3Like(maxDigits: number, cps: number[], cls: Uint8Array, start: number, end: number, out: number[]): void {
  for (let i = start; i < end; ) {
    const c = cps[i];
    const k = cls[i];
    let j = i + contraction(cps, i, end, true);
    if (j === i) {
      if (k === CP_LETTER) j = runEnd(cls, i, end, CP_LETTER);
      else if (k !== CP_NUMBER && !isCrLf(c) && i + 1 < end && cls[i + 1] === CP_LETTER) j = runEnd(cls, i + 1, end, CP_LETTER);
      else if (k === CP_NUMBER) j = Math.min(runEnd(cls, i, end, CP_NUMBER), i + maxDigits);
      else {
        const o = c === SPACE && i + 1 < end && cls[i + 1] === CP_OTHER ? i + 1 : i;
        if (cls[o] === CP_OTHER) {
          j = runEnd(cls, o, end, CP_OTHER);
          while (j < end && isCrLf(cps[j])) j++;
        } else {
          // k is CP_SPACE here
          const r = runEnd(cls, i, end, CP_SPACE);
          let lastNl = -1;
          for (let p = i; p < r; p++) if (isCrLf(cps[p])) lastNl = p;
          j = lastNl >= 0 ? lastNl + 1 : spaceRun(i, r, end);
        }
      }
    }
    out.push(j);
    i = j;
  }
}

function gpt2(cps: number[], cls: Uint8Array, start: number, end: number, out: number[]): void {
  for (let i = start; i < end; ) {
    const c = cps[i];
    let j = i + contraction(cps, i, end, false);
    if (j === i) {
      const o = c === SPACE && i + 1 < end && cls[i + 1] !== CP_SPACE ? i + 1 : i;
      const k = cls[o];
      if (k === CP_SPACE) j = spaceRun(i, runEnd(cls, i, end, CP_SPACE), end);
      else j = runEnd(cls, o, end, k);
    }
    out.push(j);
    i = j;
  }
}

function smollm(cps: number[], cls: Uint8Array, start: number, end: number, out: number[]): void {
  for (let i = start; i < end; ) {
    if (cls[i] === CP_NUMBER) {
      out.push(++i);
      continue;
    }
    let j = i;
    while (j < end && cls[j] !== CP_NUMBER) j++;
    gpt2(cps, cls, i, j, out);
    i = j;
  }
}

const SCANNERS: Record<PreTokenizer, typeof gpt2> = {
  llama3: (...a) => llama3Like(3, ...a),
  gpt2,
  smollm,
  qwen2: (...a) => llama3Like(1, ...a),
};

/** End indices of the pieces of cps[start, end); `cls` holds the class of every code point. */
export function pretokenize(pre: PreTokenizer, cps: number[], cls: Uint8Array, start = 0, end = cps.length): number[] {
  const out: number[] = [];
  SCANNERS[pre](cps, cls, start, end, out);
  return out;
}
