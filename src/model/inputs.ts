/**
 * What every command that reads a model does first: the model file (or retro's built-in default
 * model when none is given), its tokenizer (embedded, or the -z file), opened once, with one error
 * when there is no tokenizer; and the prompt, checked and encoded against the context.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { RetroError, TokenizerError, UsageError } from '../errors.js';
import { printable } from '../files.js';
import { kvCacheKind, withKvCache, type Config, type KvCacheKind, type Vocab } from '../reference/model.js';
import type { Tokenizer } from '../reference/tokenizer.js';
import { openModel } from './open.js';
import type { ModelSource } from './source.js';
import { DEFAULT_MODEL, writeDefaultModel } from './synthetic.js';
import { readTokenizer } from './tokenizer.js';

export interface InputsRequest {
  /** Model file; undefined: the built-in default model. */
  model?: string;
  /** Tokenizer file; undefined: the one embedded in the model. */
  tokenizer?: string;
  /** Cap the context at this many positions. */
  seqLen?: number;
}

export interface Inputs {
  source: ModelSource;
  config: Config;
  vocab: Vocab;
  sharedClassifier: boolean;
  usedDefault: boolean;
  /** Where the model and tokenizer were read from (the default model's are in a scratch folder). */
  modelPath: string;
  tokenizerPath?: string;
  /** For people: the file and its shape, or the default model's description. */
  description: string;
  sourceBytes: number;
  /** For the manifest: absolute paths, or the default model's marker. */
  provenance: { source: string; tokenizer: string | null; format: string };
  close(): void;
}

export function checkSeqLen(seqLen: number | undefined): void {
  if (seqLen !== undefined && (!Number.isInteger(seqLen) || seqLen < 1)) throw new UsageError(`--seq-len ${seqLen} is not a positive whole number`, 'use e.g. --seq-len 256');
}

export function checkGroupSize(groupSize: number): void {
  if (!Number.isInteger(groupSize) || groupSize < 1 || groupSize > 4096) throw new UsageError(`--group-size ${groupSize} is not a whole number in 1..4096`, 'use e.g. --group-size 32');
}

export function openInputs(req: InputsRequest): Inputs {
  checkSeqLen(req.seqLen);
  const usedDefault = req.model === undefined;
  let scratch: string | undefined;
  let modelPath = req.model;
  let tokenizerPath = req.tokenizer;
  if (usedDefault) {
    scratch = mkdtempSync(join(tmpdir(), 'retro-default-'));
    ({ model: modelPath, tokenizer: tokenizerPath } = writeDefaultModel(scratch));
  }
  const cleanup = () => scratch && rmSync(scratch, { recursive: true, force: true });
  let opened: ModelSource;
  try {
    opened = openModel(modelPath!);
  } catch (e) {
    cleanup();
    throw e;
  }
  try {
    const vocab = tokenizerPath !== undefined ? overridingTokenizer(opened, tokenizerPath) : opened.vocab;
    if (!vocab) throw new UsageError(`${modelPath}: the model has no embedded tokenizer`, "pass the model's tokenizer with -z/--tokenizer (a llama2.c tokenizer.bin or its tokenizer.json)");
    const config = { ...opened.config, seqLen: Math.min(opened.config.seqLen, req.seqLen ?? Infinity) };
    const source: ModelSource = { ...opened, config };
    const c = config;
    return {
      source,
      config,
      vocab,
      sharedClassifier: opened.sharedClassifier,
      usedDefault,
      modelPath: modelPath!,
      tokenizerPath,
      description: usedDefault ? DEFAULT_MODEL.description : `${basename(modelPath!)} (${opened.format}, dim ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads, vocab ${c.vocabSize}, context ${c.seqLen})`,
      sourceBytes: statSync(modelPath!).size,
      provenance: usedDefault
        ? { source: 'built-in default', tokenizer: null, format: 'synthetic' }
        : { source: resolve(modelPath!), tokenizer: tokenizerPath === undefined ? null : resolve(tokenizerPath), format: opened.format },
      close() {
        opened.close();
        cleanup();
      },
    };
  } catch (e) {
    opened.close();
    cleanup();
    throw e;
  }
}

/** The model's own tokenizer, when it carries one it can read; undefined otherwise. */
function embeddedVocab(src: ModelSource): Vocab | undefined {
  try {
    return src.vocab;
  } catch (e) {
    // A tokenizer retro cannot read from the file is what -z is for.
    if (e instanceof RetroError) return undefined;
    throw e;
  }
}

/**
 * A -z tokenizer for a model that may carry its own: the two must be the same vocabulary, else the
 * ids the model learned would be read as other text. The first difference is named.
 */
function overridingTokenizer(src: ModelSource, path: string): Vocab {
  const embedded = embeddedVocab(src);
  const own = `${basename(src.path)} carries its own tokenizer: leave out -z/--tokenizer`;
  let vocab: Vocab;
  try {
    vocab = readTokenizer(path, src.config.vocabSize);
  } catch (e) {
    if (embedded && e instanceof TokenizerError) throw new TokenizerError(e.message, own);
    throw e;
  }
  if (!embedded) return vocab;
  const id = embedded.pieces.findIndex((p, i) => p !== vocab.pieces[i]);
  if (id >= 0) {
    const shown = (p: string | undefined) => (p === undefined ? 'nothing' : JSON.stringify(printable(Buffer.from(p, 'latin1').toString('utf8'), 40)));
    throw new TokenizerError(`${path}: token ${id} is ${shown(vocab.pieces[id])} but ${shown(embedded.pieces[id])} in ${basename(src.path)}: not the model's vocabulary`, own);
  }
  return vocab;
}

/** Opens the inputs, hands them to `use`, and closes them whatever happens (also when `use` is async). */
export function withInputs<T>(req: InputsRequest, use: (inputs: Inputs) => T): T {
  const inputs = openInputs(req);
  let result: T;
  try {
    result = use(inputs);
  } catch (e) {
    inputs.close();
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => inputs.close()) as T;
  inputs.close();
  return result;
}

/** The same inputs with the context capped at `seqLen` (the KV cache and RoPE tables shrink with it). */
export function capContext(inputs: Inputs, seqLen: number): Inputs {
  if (seqLen >= inputs.config.seqLen) return inputs;
  return withConfig(inputs, { ...inputs.config, seqLen });
}

/** The same inputs with the KV cache the engine allocates (model.rtr records it). */
export function setKvCache(inputs: Inputs, kind: KvCacheKind): Inputs {
  return kvCacheKind(inputs.config) === kind ? inputs : withConfig(inputs, withKvCache(inputs.config, kind));
}

function withConfig(inputs: Inputs, config: Config): Inputs {
  return { ...inputs, config, source: { ...inputs.source, config } };
}

export function checkPrompt(prompt: Uint8Array): void {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(prompt);
  } catch {
    throw new UsageError('the prompt is not valid UTF-8', 'pass the prompt as UTF-8 text (or with --prompt-file in UTF-8)');
  }
}

/** The longest prompt file read: 8 bytes a position of the largest context (2^20) a model may have. */
export const MAX_PROMPT_BYTES = 8 << 20;

export function encodePrompt(tokenizer: Tokenizer, prompt: Uint8Array, seqLen: number): number[] {
  // The engine's rule, checked before the quadratic BPE merge: more bytes than this cannot fit the context.
  if (prompt.length > seqLen * 8 + 16) {
    throw new UsageError(`the prompt is ${prompt.length} bytes, more than the model's context of ${seqLen} tokens can hold`, 'shorten the prompt');
  }
  // byte-level BPE reads invalid UTF-8 as U+FFFD (as its reference tokenizers do); llama2.c's encode needs valid text
  if (!tokenizer.byteLevel) checkPrompt(prompt);
  const tokens = tokenizer.encode(prompt, true, false);
  if (tokens.length === 0) throw new UsageError('the prompt is empty and this model starts no text with BOS', 'pass a prompt');
  if (tokens.length > seqLen) {
    throw new UsageError(`the prompt encodes to ${tokens.length} tokens, more than the model's context of ${seqLen}`, 'shorten the prompt');
  }
  return tokens;
}
