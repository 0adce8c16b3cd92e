/**
 * The generation loop of llama2.c's `generate()`: feed the prompt, then sample,
 * stop at BOS, EOS or the end-of-turn token or after `steps` positions, print each piece as it
 * comes (byte-level pieces whole characters at a time).
 */
import type { ChatJoints } from './chat.js';
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

export interface ChatResult {
  /** Every token fed to forward(), in order: the template's and the user's, then the reply's. */
  tokens: number[];
  /** Why the chat ended: the input ran out, or the context filled. */
  end: 'input' | 'context';
}

/**
 * The engine's -m chat: per user turn the joints around the message (chat.ts), encoded with special
 * tokens whole, fed; the reply sampled until BOS, EOS or the end-of-turn token, which is fed at the
 * start of the next turn (its text taken off the joint that begins with it). The KV cache holds
 * the whole chat until `limit` positions.
 */
export function chat(t: Transformer, tokenizer: Tokenizer, sampler: Sampler, joints: ChatJoints, system: string | undefined, nextTurn: () => string | undefined, limit: number, hooks: GenerateHooks): ChatResult {
  const tokens: number[] = [];
  const text = (s: string) => Buffer.from(s, 'utf8');
  // ASCII whitespace, as the engine trims
  const clean = (s: string) => (joints.trim ? s.replace(/^[ \t\r\n\v\f]+|[ \t\r\n\v\f]+$/g, '') : s);
  const printer = new Utf8Printer();
  let ended = -1;
  let logits: Float32Array | undefined;
  const feed = (token: number) => {
    if (tokens.length >= limit) return false;
    logits = forward(t, token, tokens.length);
    hooks.onStep?.(tokens.length, token, logits);
    tokens.push(token);
    return true;
  };
  for (let turn = 0; ; turn++) {
    hooks.write(text('User: '));
    const line = nextTurn();
    if (line === undefined) break;
    const user = clean(line.replace(/[\r\n].*$/s, ''));
    let prompt: string;
    if (turn === 0 && system !== undefined) prompt = joints.startSystem + clean(system) + joints.systemToUser + user + joints.userToAssistant;
    else {
      let before = turn === 0 ? joints.start : joints.assistantToUser;
      const endText = ended >= 0 ? tokenizer.vocab.pieces[ended] : undefined;
      if (endText !== undefined && Buffer.from(before, 'utf8').toString('latin1').startsWith(endText)) before = Buffer.from(Buffer.from(before, 'utf8').subarray(endText.length)).toString('utf8');
      prompt = before + user + joints.userToAssistant;
    }
    const ids = tokenizer.encode(text(prompt), false, false);
    for (const id of ended >= 0 ? [ended, ...ids] : ids) if (!feed(id)) return { tokens, end: 'context' };
    hooks.write(text('Assistant: '));
    ended = -1;
    while (logits) {
      const next = sampler.sample(logits);
      if (tokenizer.isStop(next)) {
        ended = next;
        break;
      }
      // the engine prints a SentencePiece piece as a C string: up to a NUL
      const piece = tokenizer.decode(-1, next);
      hooks.write(printer.push(Buffer.from(tokenizer.byteLevel ? piece : piece.split('\0')[0], 'latin1')));
      if (!feed(next)) return { tokens, end: 'context' };
    }
    hooks.write(printer.flush());
    hooks.write(text('\n'));
  }
  hooks.write(text('\n'));
  return { tokens, end: 'input' };
}
