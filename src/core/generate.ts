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
  checkSampling(req);
  const { config, weights, tokenizer } = withInputs(req, (inputs) => ({ config: inputs.config, weights: loadWeights(inputs.source), tokenizer: new Tokenizer(inputs.vocab) }));
  const joints = tokenizer.vocab.chat;
  if (!joints) {
    const why = tokenizer.vocab.chatRefused;
    if (why) throw new TokenizerError(why, 'retro runs templates that reduce to text before and after each message: use retro generate without --chat, or a model with such a template');
    throw new UsageError(`${req.model}: the model has no chat template retro runs`, 'use retro generate without --chat');
  }
  const seed = req.seed === undefined || req.seed === 0n ? BigInt(Math.floor(Date.now() / 1000)) : req.seed;
  const sampler = new Sampler(req.temperature, req.topp, seed);
  const limit = clampSteps(req.steps, config.seqLen);
  // An empty system prompt is none, as in the engine: no empty system turn.
  const r = chat(buildTransformer(config, weights), tokenizer, sampler, joints, req.system || undefined, req.nextTurn, limit, { write: (b) => out.stdout(b) });
  if (r.end === 'context') out.stderr(`\nretro: the chat has filled its ${limit} positions (fix: start a new chat, or raise -n up to the model's context)\n`);
  return r;
}

/**
 * The ranges the engine's usage gives, refused outside them as the engine refuses them: run.c's
 * silent clamps (a negative temperature greedy, top-p 2 as 0.9) would run something not asked for.
 */
function checkSampling(req: Pick<GenerateRequest, 'temperature' | 'topp' | 'steps'>): void {
  const refuse = (flag: string, v: number, what: string) => new UsageError(`${flag} ${v}: not ${what}`, `pass ${flag} within ${what.replace(/^.* in /, '')}`);
  if (!(req.temperature >= 0 && req.temperature <= F32_MAX)) throw refuse('-t', req.temperature, 'a temperature in [0,inf]');
  if (!(req.topp >= 0 && req.topp <= 1)) throw refuse('-p', req.topp, 'a top-p in [0,1]');
  if (!(Number.isSafeInteger(req.steps) && req.steps >= 0 && req.steps <= 2147483647)) throw refuse('-n', req.steps, 'a whole number of steps in 0..2147483647');
}

/** The largest finite float32: a temperature the engine holds in a float. */
const F32_MAX = 3.4028234663852886e38;

export interface GenerateOutcome extends GenerateResult {
  promptTokens: number[];
  /** What `retro generate --json` prints. */
  generated: GenerateJson;
}

export function runGenerate(req: GenerateRequest, out: Output): GenerateOutcome {
  checkSampling(req);
  const { config, weights, tokenizer } = withInputs(req, (inputs) => ({ config: inputs.config, weights: loadWeights(inputs.source), tokenizer: new Tokenizer(inputs.vocab) }));
  const { temperature, topp } = req;
  const steps = clampSteps(req.steps, config.seqLen);
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
