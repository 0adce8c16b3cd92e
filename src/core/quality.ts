/**
 * `retro quality`: what quantization costs, measured against the f32 reference on the same model
 * and text. Both run teacher-forced over the same tokens: a held text file (--text), or the f32
 * model's own greedy story from a prompt.
 */
import { readFileSync } from 'node:fs';
import { InputFileError, UsageError } from '../errors.js';
import { checkGroupSize, encodePrompt, withInputs } from '../model/inputs.js';
import { loadQuantizedWeights, loadWeights } from '../model/source.js';
import type { IntQuantKind } from '../quant/kinds.js';
import { buildTransformer, forward } from '../reference/forward.js';
import { Tokenizer } from '../reference/tokenizer.js';
import { QualityMeter, type QualityScore } from '../verify/quality.js';
import { greedyTokens } from '../verify/reference.js';

export interface QualityRequest {
  model: string;
  tokenizer?: string;
  quants: IntQuantKind[];
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
  checkGroupSize(req.groupSize);
  return withInputs(req, ({ source: src, config: c, vocab }) => {
    const tokenizer = new Tokenizer(vocab);
    const weights = loadWeights(src);
    const reference = buildTransformer(c, weights);
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
      tokens = greedyTokens(c, weights, tokenizer, encodePrompt(tokenizer, req.prompt, c.seqLen), steps);
      text = `the f32 model's greedy story from "${Buffer.from(req.prompt).toString('utf8')}" (${steps} positions)`;
    }
    if (tokens.length < 2) throw new UsageError('the text is shorter than two tokens', 'give a longer --text or more -n');
    // The reference's logits once, then each quantized model against them.
    const refLogits = tokens.slice(0, -1).map((tok, pos) => Float32Array.from(forward(reference, tok, pos)));
    const scores = req.quants.map((quant) => {
      const model = buildTransformer(c, loadQuantizedWeights(src, quant, req.groupSize));
      const meter = new QualityMeter();
      for (let pos = 0; pos + 1 < tokens.length; pos++) meter.add(refLogits[pos], forward(model, tokens[pos], pos), tokens[pos + 1]);
      return { quant, groupSize: req.groupSize, score: meter.score() };
    });
    return { text, tokens: tokens.length, scores };
  });
}
