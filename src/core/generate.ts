/** `retro generate`: the TypeScript reference engine, with llama2.c run's flags and output. */
import { UsageError } from '../errors.js';
import { openModel } from '../model/open.js';
import { loadWeights } from '../model/source.js';
import { readTokenizer } from '../model/tokenizer.js';
import { buildTransformer } from '../reference/forward.js';
import { clampSteps, generate, type GenerateResult } from '../reference/generate.js';
import type { Vocab } from '../reference/model.js';
import { Sampler } from '../reference/sampler.js';
import { printableBytes, Tokenizer } from '../reference/tokenizer.js';

export interface GenerateRequest {
  model: string;
  tokenizer?: string;
  temperature: number;
  topp: number;
  seed?: bigint; // undefined or 0: seeded from the clock, as run.c does
  steps: number;
  prompt: Uint8Array; // UTF-8 bytes
  /** Print one JSON object (prompt ids with BOS, generated ids, their text) instead of the text as it comes. */
  json?: boolean;
}

/** What `retro generate --json` prints: enough to compare with another implementation token by token. */
export interface GenerateJson {
  promptIds: number[];
  ids: number[];
  text: string;
}

export interface Output {
  stdout(bytes: Uint8Array): void;
  stderr(text: string): void;
}

export function checkPrompt(prompt: Uint8Array): void {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(prompt);
  } catch {
    throw new UsageError('the prompt is not valid UTF-8', 'pass the prompt as UTF-8 text (or with --prompt-file in UTF-8)');
  }
}

/** Model, vocabulary and tokenizer ready to run. */
export function loadForInference(modelPath: string, tokenizerPath: string | undefined) {
  const source = openModel(modelPath);
  try {
    const vocab: Vocab | undefined = tokenizerPath !== undefined ? readTokenizer(tokenizerPath, source.config.vocabSize) : source.vocab;
    if (vocab === undefined) {
      throw new UsageError(`${modelPath}: the model has no embedded tokenizer`, 'pass one with -z/--tokenizer (e.g. ../shared/models/tok512.bin)');
    }
    const weights = loadWeights(source);
    return { source, config: source.config, weights, tokenizer: new Tokenizer(vocab) };
  } finally {
    source.close();
  }
}

export function encodePrompt(tokenizer: Tokenizer, prompt: Uint8Array, seqLen: number): number[] {
  checkPrompt(prompt);
  const tokens = tokenizer.encode(prompt, true, false);
  if (tokens.length > seqLen) {
    throw new UsageError(`the prompt encodes to ${tokens.length} tokens, more than the model's context of ${seqLen}`, 'shorten the prompt');
  }
  return tokens;
}

export function runGenerate(req: GenerateRequest, out: Output): GenerateResult {
  if (!Number.isFinite(req.temperature) || !Number.isFinite(req.topp) || !Number.isFinite(req.steps)) {
    throw new UsageError('-t, -p and -n must be numbers', 'e.g. -t 0.8 -p 0.9 -n 256');
  }
  checkPrompt(req.prompt);
  const { config, weights, tokenizer } = loadForInference(req.model, req.tokenizer);
  // run.c's clamps: negative temperature is greedy, top-p outside [0,1] is 0.9, negative steps is 0.
  const temperature = req.temperature < 0 ? 0 : req.temperature;
  const topp = req.topp < 0 || req.topp > 1 ? 0.9 : req.topp;
  const steps = clampSteps(req.steps < 0 ? 0 : Math.trunc(req.steps), config.seqLen);
  const seed = req.seed === undefined || req.seed === 0n ? BigInt(Math.floor(Date.now() / 1000)) : req.seed;
  const promptTokens = encodePrompt(tokenizer, req.prompt, config.seqLen);
  const transformer = buildTransformer(config, weights);
  const sampler = new Sampler(temperature, topp, seed);
  const result = generate(transformer, tokenizer, sampler, promptTokens, steps, { write: (b) => req.json || out.stdout(b) });
  if (req.json) {
    const ids = result.tokens.slice(promptTokens.length);
    const bytes = ids.map((t, i) => printableBytes(tokenizer.decode(i === 0 ? promptTokens[promptTokens.length - 1] : ids[i - 1], t)));
    const json: GenerateJson = { promptIds: promptTokens, ids, text: Buffer.concat(bytes).toString('utf8') };
    out.stdout(Buffer.from(`${JSON.stringify(json)}\n`));
  }
  if (result.tokensPerSecond !== null) out.stderr(`achieved tok/s: ${result.tokensPerSecond.toFixed(6)}\n`);
  return result;
}
