/** `retro generate`: the TypeScript reference engine, with llama2.c run's flags and output. */
import { TokenizerError, UsageError } from '../errors.js';
import { encodePrompt, withInputs } from '../model/inputs.js';
import { loadWeights } from '../model/source.js';
import { buildTransformer } from '../reference/forward.js';
import { chat, clampSteps, generate, type ChatResult, type GenerateResult } from '../reference/generate.js';
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

/** -m chat: user turns from `nextTurn` until it returns undefined, an optional system prompt. */
export interface ChatRequest extends Omit<GenerateRequest, 'prompt'> {
  system?: string;
  nextTurn: () => string | undefined;
}

export function runChat(req: ChatRequest, out: Output): ChatResult {
  const { config, weights, tokenizer } = withInputs(req, (inputs) => ({ config: inputs.config, weights: loadWeights(inputs.source), tokenizer: new Tokenizer(inputs.vocab) }));
  const joints = tokenizer.vocab.chat;
  if (!joints) {
    const why = tokenizer.vocab.chatRefused;
    if (why) throw new TokenizerError(why, 'retro runs templates that reduce to text before and after each message: use retro generate without --chat, or a model with such a template');
    throw new UsageError(`${req.model}: the model has no chat template retro runs`, 'use retro generate without --chat');
  }
  const seed = req.seed === undefined || req.seed === 0n ? BigInt(Math.floor(Date.now() / 1000)) : req.seed;
  const sampler = new Sampler(req.temperature < 0 ? 0 : req.temperature, req.topp < 0 || req.topp > 1 ? 0.9 : req.topp, seed);
  const limit = clampSteps(req.steps < 0 ? 0 : Math.trunc(req.steps), config.seqLen);
  const r = chat(buildTransformer(config, weights), tokenizer, sampler, joints, req.system, req.nextTurn, limit, { write: (b) => out.stdout(b) });
  if (r.end === 'context') out.stderr(`\nretro: the chat has filled its ${limit} positions (fix: start a new chat, or raise -n up to the model's context)\n`);
  return r;
}

export interface GenerateOutcome extends GenerateResult {
  promptTokens: number[];
  /** What `retro generate --json` prints. */
  generated: GenerateJson;
}

export function runGenerate(req: GenerateRequest, out: Output): GenerateOutcome {
  if (!Number.isFinite(req.temperature) || !Number.isFinite(req.topp) || !Number.isFinite(req.steps)) {
    throw new UsageError('-t, -p and -n must be numbers', 'e.g. -t 0.8 -p 0.9 -n 256');
  }
  const { config, weights, tokenizer } = withInputs(req, (inputs) => ({ config: inputs.config, weights: loadWeights(inputs.source), tokenizer: new Tokenizer(inputs.vocab) }));
  // run.c's clamps: negative temperature is greedy, top-p outside [0,1] is 0.9, negative steps is 0.
  const temperature = req.temperature < 0 ? 0 : req.temperature;
  const topp = req.topp < 0 || req.topp > 1 ? 0.9 : req.topp;
  const steps = clampSteps(req.steps < 0 ? 0 : Math.trunc(req.steps), config.seqLen);
  const seed = req.seed === undefined || req.seed === 0n ? BigInt(Math.floor(Date.now() / 1000)) : req.seed;
  const promptTokens = encodePrompt(tokenizer, req.prompt, config.seqLen);
  const transformer = buildTransformer(config, weights);
  const sampler = new Sampler(temperature, topp, seed);
  const result = generate(transformer, tokenizer, sampler, promptTokens, steps, { write: (b) => out.stdout(b) });
  const ids = result.tokens.slice(promptTokens.length);
  const bytes = ids.map((t, i) => printableBytes(tokenizer.decode(i === 0 ? promptTokens[promptTokens.length - 1] : ids[i - 1], t)));
  if (result.tokensPerSecond !== null) out.stderr(`achieved tok/s: ${result.tokensPerSecond.toFixed(6)}\n`);
  return { ...result, promptTokens, generated: { promptIds: promptTokens, ids, text: Buffer.concat(bytes).toString('utf8') } };
}
