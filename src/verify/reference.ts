/** The reference runs verify and quality compare against. */
import { buildTransformer } from '../reference/forward.js';
import { generate } from '../reference/generate.js';
import type { Config, Weights } from '../reference/model.js';
import { Sampler } from '../reference/sampler.js';
import type { Tokenizer } from '../reference/tokenizer.js';

/** The reference's greedy tokens from a prompt: what teacher forcing feeds an engine, and quality's default text. */
export function greedyTokens(config: Config, weights: Weights, tokenizer: Tokenizer, promptTokens: number[], steps: number): number[] {
  return generate(buildTransformer(config, weights), tokenizer, new Sampler(0, 0.9, 1n), promptTokens, steps, { write: () => {} }).tokens;
}
