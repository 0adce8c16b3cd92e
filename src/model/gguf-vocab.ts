/**
 * The vocabulary a GGUF file carries in its `tokenizer.ggml.*` metadata: SentencePiece
 * (`tokenizer.ggml.model = llama`) in llama2.c's form, or byte-level BPE (`gpt2`) with the
 * pre-tokenizer `tokenizer.ggml.pre` names.
 */
import { TokenizerError } from '../errors.js';
import type { Vocab } from '../reference/model.js';
import { byteLevelVocab, chatJoints, GGUF_PRE_TOKENIZERS, IGNORES_MERGES } from './byte-level.js';

/** The engine's limit on a token's length (max_token_length in model.rtr). */
const MAX_PIECE_BYTES = 4096;

/** llama.cpp's token types: control and user-defined tokens are matched whole and spelled literally (SentencePiece's unknown token too). */
const TOKEN_TYPE_UNKNOWN = 2;
const TOKEN_TYPE_CONTROL = 3;
const TOKEN_TYPE_USER_DEFINED = 4;

const MODELS: Record<string, (meta: Map<string, unknown>, tokens: string[], vocabSize: number, path: string) => Vocab> = { llama: sentencePiece, gpt2: byteLevel };

export function ggufVocab(meta: Map<string, unknown>, vocabSize: number, path: string): Vocab | undefined {
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (tokens === undefined) return undefined;
  const model = meta.get('tokenizer.ggml.model');
  const read = typeof model === 'string' && Object.hasOwn(MODELS, model) ? MODELS[model] : undefined;
  if (!read) {
    throw new TokenizerError(`${path}: embedded tokenizer is ${JSON.stringify(model)}; retro reads ${Object.keys(MODELS).map((m) => `"${m}"`).join(', ')}`, 'pass a llama2.c tokenizer.bin with --tokenizer');
  }
  const bad = problem(path);
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) throw bad('tokenizer.ggml.tokens holds something other than strings');
  if (tokens.length !== vocabSize) throw new TokenizerError(`${path}: embedded tokenizer has ${tokens.length} tokens, model vocab is ${vocabSize}`, 'the file is inconsistent');
  const types = meta.get('tokenizer.ggml.token_type');
  if (types !== undefined && (!Array.isArray(types) || types.length !== tokens.length || !types.every((v) => typeof v === 'number'))) throw bad('tokenizer.ggml.token_type is not one number per token');
  const vocab = read(meta, tokens as string[], vocabSize, path);
  const longest = vocab.pieces.reduce((m, p) => Math.max(m, p.length), 0);
  if (longest > MAX_PIECE_BYTES) throw bad(`a token of ${longest} bytes, more than the engine's ${MAX_PIECE_BYTES}`);
  return vocab;
}

const problem = (path: string) => (what: string) => new TokenizerError(`${path}: embedded tokenizer: ${what}`, 'the file is damaged or was edited; pass a llama2.c tokenizer.bin with --tokenizer');

function tokenId(meta: Map<string, unknown>, key: string, fallback: number | undefined, vocabSize: number, path: string): number | undefined {
  const v = meta.get(key) ?? fallback;
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) throw problem(path)(`${key} is not a token id below the vocabulary size ${vocabSize}`);
  return v;
}

/** The llama (SentencePiece) vocabulary in llama2.c's form (spaces for U+2581); llama.cpp's special tokens are matched whole in the text. */
function sentencePiece(meta: Map<string, unknown>, tokens: string[], vocabSize: number, path: string): Vocab {
  const bad = problem(path);
  const scores = meta.get('tokenizer.ggml.scores');
  const types = meta.get('tokenizer.ggml.token_type');
  if (!Array.isArray(scores) || scores.length !== tokens.length) {
    throw new TokenizerError(`${path}: embedded tokenizer has no scores for its ${tokens.length} tokens`, 'pass a llama2.c tokenizer.bin with --tokenizer');
  }
  if (!scores.every((v) => typeof v === 'number' && Number.isFinite(v))) throw bad('tokenizer.ggml.scores holds something other than finite numbers');
  const bosId = tokenId(meta, 'tokenizer.ggml.bos_token_id', 1, vocabSize, path)!;
  const eosId = tokenId(meta, 'tokenizer.ggml.eos_token_id', 2, vocabSize, path)!;
  const pieces = tokens.map((t) => Buffer.from(String(t).replaceAll('\u2581', ' '), 'utf8').toString('latin1'));
  const specials = Array.isArray(types) ? pieces.flatMap((p, id) => ([TOKEN_TYPE_UNKNOWN, TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED].includes(types[id] as number) && p.length > 0 ? [id] : [])) : [];
  const eotId = tokenId(meta, 'tokenizer.ggml.eot_token_id', undefined, vocabSize, path);
  const template = meta.get('tokenizer.chat_template');
  return { pieces, scores: Float32Array.from(scores as number[]), maxTokenLength: pieces.reduce((m, p) => Math.max(m, p.length), 0), bosId, eosId, specials, ...(eotId !== undefined ? { eotId } : {}), ...chatJoints(path, template, tokens[bosId], tokens[eosId]) };
}

function byteLevel(meta: Map<string, unknown>, tokens: string[], vocabSize: number, path: string): Vocab {
  const bad = problem(path);
  const preName = meta.get('tokenizer.ggml.pre') ?? 'default';
  const pre = typeof preName === 'string' && Object.hasOwn(GGUF_PRE_TOKENIZERS, preName) ? GGUF_PRE_TOKENIZERS[preName] : undefined;
  if (!pre) {
    throw new TokenizerError(
      `${path}: pre-tokenizer ${JSON.stringify(preName)} is not one retro implements (${Object.keys(GGUF_PRE_TOKENIZERS).join(', ')})`,
      'use a model whose tokenizer.ggml.pre is one of these, or add its scanner to src/reference/pretokenize.ts',
    );
  }
  const merges = meta.get('tokenizer.ggml.merges');
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string')) throw bad('tokenizer.ggml.merges is missing or not strings');
  const types = meta.get('tokenizer.ggml.token_type') as number[] | undefined;
  const literal = new Set<number>();
  types?.forEach((t, id) => {
    if (t === TOKEN_TYPE_CONTROL || t === TOKEN_TYPE_USER_DEFINED) literal.add(id);
  });
  const pairs = (merges as string[]).map((m, r): [string, string] => {
    const at = m.indexOf(' ', 1);
    if (at < 0) throw bad(`merge ${r} is not two tokens separated by a space`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
  return { ...byteLevelVocab({
    path,
    tokens,
    literal,
    merges: pairs,
    pre,
    ignoreMerges: IGNORES_MERGES[pre],
    bosId: tokenId(meta, 'tokenizer.ggml.bos_token_id', undefined, vocabSize, path) ?? 0,
    eosId: tokenId(meta, 'tokenizer.ggml.eos_token_id', undefined, vocabSize, path) ?? 0,
    eotId: tokenId(meta, 'tokenizer.ggml.eot_token_id', undefined, vocabSize, path),
    chatTemplate: meta.get('tokenizer.chat_template'),
  }), addBos: meta.get('tokenizer.ggml.add_bos_token') !== false };
}
