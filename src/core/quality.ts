/**
 * `retro quality`: what quantization costs, measured against the f32 reference (f32 weights, f32
 * KV cache) on the same model and text. All run teacher-forced over the same tokens: a held text
 * file (--text), or the f32 model's own greedy story from a prompt. With an int8 KV cache the f32
 * weights are scored with it too, so the cache's own cost shows apart from the weights'.
 */
import { readFileSync } from 'node:fs';
import { InputFileError, UsageError } from '../errors.js';
import { checkGroupSize, encodePrompt, withInputs } from '../model/inputs.js';
import { loadQuantizedWeights, loadWeights } from '../model/source.js';
import type { IntQuantKind, QuantKind } from '../quant/kinds.js';
import { withKvCache, type KvCacheKind } from '../reference/model.js';
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
  /** The KV cache the quantized models run with (default f32). */
  kvCache?: KvCacheKind;
}

export interface QualityOutcome {
  text: string;
  tokens: number;
  scores: { quant: QuantKind; groupSize: number; kvCache: KvCacheKind; score: QualityScore }[];
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
    const kvCache = req.kvCache ?? 'f32';
    const kinds: QuantKind[] = kvCache === 'f32' ? req.quants : ['f32', ...req.quants];
    const scores = kinds.map((quant) => {
      const model = buildTransformer(withKvCache(c, kvCache), quant === 'f32' ? weights : loadQuantizedWeights(src, quant, req.groupSize));
      const meter = new QualityMeter();
      for (let pos = 0; pos + 1 < tokens.length; pos++) meter.add(refLogits[pos], forward(model, tokens[pos], pos), tokens[pos + 1]);
      return { quant, groupSize: quant === 'f32' ? 0 : req.groupSize, kvCache, score: meter.score() };
    });
    return { text, tokens: tokens.length, scores };
  });
}
