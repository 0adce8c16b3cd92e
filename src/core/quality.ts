/**
 * `retro quality`: what quantization costs, measured against the f32 reference on the same model
 * and text. Both run teacher-forced over the same tokens: a held text file (--text), or the f32
 * model's own greedy story from a prompt.
 */
import { readFileSync } from 'node:fs';
import { InputFileError, UsageError } from '../errors.js';
import { openModel } from '../model/open.js';
import { loadWeights } from '../model/source.js';
import { readTokenizer } from '../model/tokenizer.js';
import type { QuantKind } from '../quant/q8.js';
import { buildTransformer, forward } from '../reference/forward.js';
import { generate } from '../reference/generate.js';
import { Sampler } from '../reference/sampler.js';
import { Tokenizer } from '../reference/tokenizer.js';
import { QualityMeter, type QualityScore } from '../verify/quality.js';
import { encodePrompt } from './generate.js';
import { quantizedWeights } from './verify.js';

export interface QualityRequest {
  model: string;
  tokenizer?: string;
  quants: Exclude<QuantKind, 'f32'>[];
  groupSize: number;
  /** A text file to score; else the f32 model's greedy story from `prompt`. */
  text?: string;
  prompt: Uint8Array;
  steps: number;
}

export interface QualityOutcome {
  text: string;
  tokens: number;
  scores: { quant: string; groupSize: number; score: QualityScore }[];
}

export function runQuality(req: QualityRequest): QualityOutcome {
  if (!Number.isInteger(req.groupSize) || req.groupSize < 1 || req.groupSize > 4096) throw new UsageError(`--group-size ${req.groupSize} is not a whole number in 1..4096`, 'use e.g. --group-size 32');
  const src = openModel(req.model);
  try {
    const vocab = req.tokenizer !== undefined ? readTokenizer(req.tokenizer, src.config.vocabSize) : src.vocab;
    if (!vocab) throw new UsageError(`${req.model}: the model has no embedded tokenizer`, 'pass one with -z/--tokenizer');
    const c = src.config;
    const tokenizer = new Tokenizer(vocab);
    const reference = buildTransformer(c, loadWeights(src));
    let tokens: number[];
    let text: string;
    if (req.text !== undefined) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(req.text);
      } catch (e) {
        throw new InputFileError(`${req.text}: cannot read the text (${(e as NodeJS.ErrnoException).code})`, 'check the path given to --text');
      }
      if (bytes.length > 262144) throw new UsageError(`${req.text}: ${bytes.length} bytes is more text than retro scores`, 'give at most 256 KB; only the first context-length tokens are used');
      tokens = encodePrompt(tokenizer, bytes, Infinity).slice(0, c.seqLen);
      text = req.text;
    } else {
      const steps = Math.min(req.steps, c.seqLen);
      tokens = generate(reference, tokenizer, new Sampler(0, 0.9, 1n), encodePrompt(tokenizer, req.prompt, c.seqLen), steps, { write: () => {} }).tokens;
      text = `the f32 model's greedy story from "${Buffer.from(req.prompt).toString('utf8')}" (${steps} positions)`;
    }
    if (tokens.length < 2) throw new UsageError('the text is shorter than two tokens', 'give a longer --text or more -n');
    // The reference's logits once, then each quantized model against them.
    const refLogits = tokens.slice(0, -1).map((tok, pos) => Float32Array.from(forward(reference, tok, pos)));
    const scores = req.quants.map((quant) => {
      const model = buildTransformer(c, quantizedWeights(src, quant, req.groupSize));
      const meter = new QualityMeter();
      for (let pos = 0; pos + 1 < tokens.length; pos++) meter.add(refLogits[pos], forward(model, tokens[pos], pos), tokens[pos + 1]);
      return { quant, groupSize: req.groupSize, score: meter.score() };
    });
    return { text, tokens: tokens.length, scores };
  } finally {
    src.close();
  }
}
