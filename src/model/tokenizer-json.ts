/**
 * Hugging Face `tokenizer.json` (with `tokenizer_config.json` beside it for BOS/EOS and the chat
 * template): byte-level BPE with one of the pre-tokenizers retro scans, or SentencePiece-style BPE
 * (`▁` for spaces, byte fallback `<0xXX>`) turned into llama2.c's form, the merge rank as score.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TokenizerError } from '../errors.js';
import { printable } from '../files.js';
import type { Vocab } from '../reference/model.js';
import { GPT2_REGEX, LLAMA3_REGEX, QWEN2_REGEX, type PreTokenizer } from '../reference/pretokenize.js';
import { byteLevelVocab, chatJoints } from './byte-level.js';

const MAX_JSON_BYTES = 64 << 20;

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

interface TokenizerJson {
  added_tokens?: AddedToken[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  post_processor?: unknown;
  decoder?: unknown;
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; ignore_merges?: boolean; byte_fallback?: boolean };
}

/** The pre-tokenizer a tokenizer.json describes, matched against the ones retro scans; a description of it otherwise. */
const PRE_TOKENIZER_SHAPES: { pre: PreTokenizer; matches: (p: unknown) => boolean }[] = [
  { pre: 'llama3', matches: (p) => isSequence(p, [isSplit(LLAMA3_REGEX), isByteLevel(false)]) },
  { pre: 'qwen2', matches: (p) => isSequence(p, [isSplit(QWEN2_REGEX), isByteLevel(false)]) },
  { pre: 'gpt2', matches: (p) => isByteLevel(true)(p) || isSequence(p, [isSplit(GPT2_REGEX), isByteLevel(false)]) },
  { pre: 'smollm', matches: (p) => isSequence(p, [(d) => obj(d).type === 'Digits' && obj(d).individual_digits === true, isByteLevel(true)]) },
];

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
const isByteLevel = (useRegex: boolean) => (p: unknown) => obj(p).type === 'ByteLevel' && obj(p).use_regex === useRegex && !obj(p).add_prefix_space;
const isSplit = (regex: string) => (p: unknown) => obj(p).type === 'Split' && obj(obj(p).pattern).Regex === regex && obj(p).behavior === 'Isolated' && !obj(p).invert;
const isSequence = (p: unknown, parts: ((x: unknown) => boolean)[]) => {
  const list = obj(p).pretokenizers;
  return obj(p).type === 'Sequence' && Array.isArray(list) && list.length === parts.length && parts.every((f, i) => f(list[i]));
};

/** A UTF-8 byte order mark, which some editors put before JSON. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export function isTokenizerJson(bytes: Buffer): boolean {
  const start = bytes.subarray(0, 3).equals(BOM) ? 3 : 0;
  return /^\s*\{/.test(bytes.subarray(start, start + 64).toString('latin1'));
}

export function readTokenizerJson(path: string, bytes: Buffer, vocabSize: number): Vocab {
  const bad = (what: string, fix = 'pass the model\'s own tokenizer.json') => new TokenizerError(`${path}: ${what}`, fix);
  if (bytes.length > MAX_JSON_BYTES) throw bad(`${bytes.length} bytes is too large for a tokenizer.json`);
  let json: TokenizerJson;
  try {
    json = JSON.parse(bytes.subarray(bytes.subarray(0, 3).equals(BOM) ? 3 : 0).toString('utf8')) as TokenizerJson;
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message.slice(0, 80)})`);
  }
  const model = obj(json).model as TokenizerJson['model'];
  if (obj(model).type !== 'BPE') throw bad(`model type ${printable(String(JSON.stringify(obj(model).type)), 40)}: retro reads BPE tokenizers`);
  if (typeof model!.vocab !== 'object' || model!.vocab === null || Array.isArray(model!.vocab)) throw bad('model.vocab is not an object of token: id');
  if (!Array.isArray(model!.merges)) throw bad('model.merges is not a list');
  const tokens: string[] = [];
  for (const [piece, id] of Object.entries(model!.vocab)) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw bad(`token ${JSON.stringify(piece.slice(0, 32))} has id ${id}, outside the model's vocabulary of ${vocabSize}`);
    tokens[id] = piece;
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw bad('added_tokens is not a list');
  for (const [i, t] of added.entries()) {
    if (typeof t !== 'object' || t === null) throw bad(`added_tokens[${i}] is ${JSON.stringify(t)}, not a token`);
    if (!Number.isInteger(t.id) || t.id < 0 || t.id >= vocabSize || typeof t.content !== 'string') throw bad(`added token ${JSON.stringify(String(t.content).slice(0, 32))} has id ${t.id}, outside the vocabulary of ${vocabSize}`);
    tokens[t.id] = t.content;
  }
  for (let id = 0; id < vocabSize; id++) if (tokens[id] === undefined) throw bad(`no token has id ${id}; the model's vocabulary is ${vocabSize}`);
  const merges = model!.merges.map((m, r): [string, string] => {
    if (Array.isArray(m) && m.length === 2) return [String(m[0]), String(m[1])];
    const at = typeof m === 'string' ? m.indexOf(' ', 1) : -1;
    if (at < 0) throw bad(`merge ${r} is not two tokens`);
    return [(m as string).slice(0, at), (m as string).slice(at + 1)];
  });
  const config = readConfig(path);
  const idOf = (key: string): number | undefined => {
    const v = config[key];
    const content = typeof v === 'string' ? v : typeof obj(v).content === 'string' ? (obj(v).content as string) : undefined;
    if (content === undefined) return undefined;
    const id = tokens.indexOf(content);
    if (id < 0) throw bad(`tokenizer_config.json names ${key} ${JSON.stringify(content)}, which is not a token`);
    return id;
  };
  const literal = new Set(added.map((t) => t.id));
  const isBytes = obj(json.decoder).type === 'ByteLevel';
  if (!isBytes) {
    const sp = sentencePiece(path, tokens, merges, model!.byte_fallback === true, idOf('bos_token') ?? tokens.indexOf('<s>'), idOf('eos_token') ?? tokens.indexOf('</s>'), bad);
    return { ...sp, specials: [...literal].sort((a, b) => a - b), ...chatJoints(path, config.chat_template, tokens[sp.bosId], tokens[sp.eosId]) };
  }
  const shape = PRE_TOKENIZER_SHAPES.find((s) => s.matches(json.pre_tokenizer));
  if (!shape) {
    const described = json.pre_tokenizer === undefined || json.pre_tokenizer === null ? 'none' : printable(JSON.stringify(json.pre_tokenizer), 120);
    throw bad(`its pre-tokenizer (${described}) is not one retro scans (${PRE_TOKENIZER_SHAPES.map((s) => s.pre).join(', ')})`, 'add a scanner for it to src/reference/pretokenize.ts');
  }
  return {
    ...byteLevelVocab({ path, tokens, literal, merges, pre: shape.pre, ignoreMerges: model!.ignore_merges === true, bosId: idOf('bos_token') ?? 0, eosId: idOf('eos_token') ?? 0, chatTemplate: config.chat_template }),
    addBos: addsBos(json.post_processor),
  };
}

/** tokenizer_config.json beside tokenizer.json, when there is one. */
export function readConfig(path: string): Record<string, unknown> {
  const p = join(dirname(path), 'tokenizer_config.json');
  if (!existsSync(p)) return {};
  try {
    return obj(JSON.parse(readFileSync(p, 'utf8')));
  } catch {
    throw new TokenizerError(`${p}: not valid JSON`, 'fix or remove tokenizer_config.json');
  }
}

/** Whether encoding puts BOS first: a TemplateProcessing post-processor that starts with a special token (Llama 3 does, GPT-2 does not). */
function addsBos(post: unknown): boolean {
  const all = obj(post).type === 'Sequence' && Array.isArray(obj(post).processors) ? (obj(post).processors as unknown[]) : [post];
  return all.some((p) => obj(p).type === 'TemplateProcessing' && Array.isArray(obj(p).single) && obj((obj(p).single as unknown[])[0]).SpecialToken !== undefined);
}

/** SentencePiece BPE as llama2.c runs it: `▁` back to spaces, and the merge rank as the score of the piece it makes; added tokens keep their own text. */
function sentencePiece(path: string, tokens: string[], merges: [string, string][], byteFallback: boolean, bosId: number, eosId: number, bad: (w: string) => TokenizerError): Vocab {
  if (!byteFallback) throw bad('a SentencePiece-style BPE without byte fallback: retro\'s encoder needs the <0xXX> tokens');
  const scores = new Float32Array(tokens.length).fill(-1e10);
  const ids = new Map(tokens.map((t, i) => [t, i]));
  merges.forEach(([a, b], r) => {
    const id = ids.get(a + b);
    if (id !== undefined && scores[id] === Math.fround(-1e10)) scores[id] = -r;
  });
  const pieces = tokens.map((t) => Buffer.from(t.replaceAll('\u2581', ' '), 'utf8').toString('latin1'));
  return { pieces, scores, maxTokenLength: pieces.reduce((m, p) => Math.max(m, p.length), 1), bosId, eosId };
}
