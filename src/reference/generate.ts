/**
 * The generation loop of llama2.c's `generate()`: feed the prompt, then sample,
 * stop at BOS, EOS or the end-of-turn token or after `steps` positions, print each piece as it
 * comes (byte-level pieces whole characters at a time).
 */
import { forward, type Transformer } from './forward.js';
import type { Sampler } from './sampler.js';
import { printableBytes, Utf8Printer, type Tokenizer } from './tokenizer.js';

export interface GenerateHooks {
  /** Bytes for stdout, exactly as run.c prints them. */
  write(bytes: Uint8Array): void;
  /** Called after every forward pass with the logits (before sampling modifies them). */
  onStep?(pos: number, token: number, logits: Float32Array): void;
}

export interface GenerateResult {
  tokens: number[]; // BOS, prompt tokens and generated tokens, as fed to forward()
  positions: number; // forward passes run
  tokensPerSecond: number | null; // as run.c reports it (from the second token on), null when < 2 positions
}

/** run.c: steps 0 or more than seq_len means seq_len. */
export function clampSteps(steps: number, seqLen: number): number {
  return steps <= 0 || steps > seqLen ? seqLen : steps;
}

export function generate(
  t: Transformer,
  tokenizer: Tokenizer,
  sampler: Sampler,
  promptTokens: number[],
  steps: number,
  hooks: GenerateHooks,
  now: () => number = () => performance.now(),
): GenerateResult {
  const tokens = [promptTokens[0]];
  let token = promptTokens[0];
  let pos = 0;
  let start = 0;
  const printer = tokenizer.byteLevel ? new Utf8Printer() : undefined;
  // a byte-level model that starts text without BOS: its first piece is text too
  if (printer && token !== tokenizer.vocab.bosId) hooks.write(printer.push(Buffer.from(tokenizer.decode(-1, token), 'latin1')));
  while (pos < steps) {
    const logits = forward(t, token, pos);
    hooks.onStep?.(pos, token, logits);
    const next = pos < promptTokens.length - 1 ? promptTokens[pos + 1] : sampler.sample(logits);
    pos++;
    if (tokenizer.isStop(next)) break;
    const piece = tokenizer.decode(token, next);
    hooks.write(printer ? printer.push(Buffer.from(piece, 'latin1')) : printableBytes(piece));
    tokens.push(next);
    token = next;
    if (start === 0) start = now();
  }
  if (printer) hooks.write(printer.flush());
  hooks.write(Uint8Array.of(0x0a));
  const elapsed = now() - start;
  return {
    tokens,
    positions: pos,
    tokensPerSecond: pos > 1 && elapsed > 0 ? ((pos - 1) / elapsed) * 1000 : null,
  };
}
