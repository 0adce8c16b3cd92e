/**
 * Byte-level BPE vocabularies as the reference holds them, from what GGUF and tokenizer.json
 * store: pieces in GPT-2's byte-to-unicode spelling turned back into raw bytes, merges as pairs of
 * ids in rank order, the pre-tokenizer by name, special tokens, and the end-of-turn token.
 */
import { TokenizerError } from '../errors.js';
import { printable } from '../files.js';
import { ChatTemplateError, reduceTemplate, type ChatJoints } from '../reference/chat.js';
import type { Vocab } from '../reference/model.js';
import type { PreTokenizer } from '../reference/pretokenize.js';

/** GGUF `tokenizer.ggml.pre` names and the scanner each one means (llama.cpp's names). */
export const GGUF_PRE_TOKENIZERS: Record<string, PreTokenizer> = {
  'llama-bpe': 'llama3',
  llama3: 'llama3',
  'smaug-bpe': 'llama3',
  smollm: 'smollm',
  gpt2: 'gpt2',
  qwen2: 'qwen2',
  default: 'gpt2',
};

/** llama.cpp merges a whole piece that is in the vocabulary only for the Llama 3 pre-tokenizer. */
export const IGNORES_MERGES: Record<PreTokenizer, boolean> = { llama3: true, gpt2: false, smollm: false, qwen2: false };

/** End-of-turn pieces, first found wins (as llama.cpp guesses when a file does not say). */
export const EOT_PIECES = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>'];

let unicodeToByte: Map<string, number> | undefined;

/** GPT-2's bytes_to_unicode, inverted: printable latin1 bytes stand for themselves, the rest for U+0100 on. */
export function byteOfChar(): Map<string, number> {
  if (unicodeToByte) return unicodeToByte;
  const m = new Map<string, number>();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    m.set(String.fromCodePoint(printable ? b : 256 + n++), b);
  }
  unicodeToByte = m;
  return m;
}

/** A token for a one-line message: JSON with everything outside printable ASCII escaped, cut short. */
const asciiJson = (t: string) => printable(JSON.stringify(t).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), 40);

export interface ByteLevelInput {
  path: string;
  /** Token strings as stored, by id. */
  tokens: string[];
  /** Ids whose string is literal text (special and added tokens), not byte-to-unicode. */
  literal: Set<number>;
  /** Merges as stored: [left, right] token strings, in rank order. */
  merges: [string, string][];
  pre: PreTokenizer;
  ignoreMerges: boolean;
  bosId: number;
  eosId: number;
  /** The end-of-turn id when the file names one. */
  eotId?: number;
  /** The model's Jinja chat template, when it has one. */
  chatTemplate?: unknown;
}

export function byteLevelVocab(v: ByteLevelInput): Vocab {
  const bad = (what: string) => new TokenizerError(`${v.path}: byte-level tokenizer: ${what}`, 'the tokenizer file is damaged or not a byte-level BPE tokenizer; use the model\'s own file');
  const map = byteOfChar();
  const pieces = v.tokens.map((t, id) => {
    if (v.literal.has(id)) return Buffer.from(t, 'utf8').toString('latin1');
    let s = '';
    for (const ch of t) {
      const b = map.get(ch);
      if (b === undefined) throw bad(`token ${id} holds U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}, not a byte in GPT-2's byte-to-unicode spelling`);
      s += String.fromCharCode(b);
    }
    return s;
  });
  const ids = new Map<string, number>();
  v.tokens.forEach((t, id) => {
    if (!ids.has(t)) ids.set(t, id);
  });
  const have = new Set(pieces);
  for (let b = 0; b < 256; b++) if (!have.has(String.fromCharCode(b))) throw bad(`no token for the byte 0x${b.toString(16)}`);
  const merges = new Uint32Array(v.merges.length * 2);
  // The engine looks merges up by pair: a pair listed twice has no one rank, and the engine refuses it.
  const rankOf = new Map<number, number>();
  v.merges.forEach(([a, b], r) => {
    const l = ids.get(a);
    const rt = ids.get(b);
    const shown = () => `${asciiJson(a)} ${asciiJson(b)}`;
    if (l === undefined || rt === undefined || !ids.has(a + b)) throw bad(`merge ${r} (${shown()}) names a token the vocabulary lacks`);
    const key = l * v.tokens.length + rt;
    const first = rankOf.get(key);
    if (first !== undefined) throw bad(`merge ${r} (${shown()}) repeats merge ${first}`);
    rankOf.set(key, r);
    merges[2 * r] = l;
    merges[2 * r + 1] = rt;
  });
  const eotId = v.eotId ?? EOT_PIECES.map((p) => ids.get(p)).find((id) => id !== undefined && v.literal.has(id)) ?? v.eosId;
  return {
    pieces,
    scores: new Float32Array(pieces.length),
    maxTokenLength: pieces.reduce((m, p) => Math.max(m, p.length), 1),
    bosId: v.bosId,
    eosId: v.eosId,
    eotId,
    specials: [...v.literal].sort((a, b) => a - b),
    byteLevel: { pre: v.pre, merges, ignoreMerges: v.ignoreMerges },
    ...chatJoints(v.path, v.chatTemplate, v.tokens[v.bosId], v.tokens[v.eosId]),
  };
}

/**
 * The template reduced to what the engine feeds, or, for a template it cannot reduce, why: the model
 * still generates, and chat is refused with that reason.
 */
export function chatJoints(path: string, template: unknown, bosToken: string, eosToken: string): Pick<Vocab, 'chat' | 'chatRefused'> {
  const refused = (why: string) => ({ chatRefused: `${path}: chat template: ${why}` });
  if (template === undefined) return {};
  if (typeof template !== 'string') return refused('it is not a string (named templates are not supported)');
  try {
    return { chat: reduceTemplate(template, { bosToken, eosToken }) };
  } catch (e) {
    if (e instanceof ChatTemplateError) return refused(e.message);
    throw e;
  }
}
