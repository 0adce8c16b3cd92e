/**
 * llama2.c's BPE tokenizer: `encode`, `decode` and `safe_printf`, byte for byte, with the special
 * tokens (<s>, </s>, <unk>, added tokens) matched whole in the text as the Hugging Face tokenizer and
 * llama.cpp (parse_special) do: the text between them is encoded alone, each part with its dummy prefix.
 * Pieces are byte strings (latin1: one char per byte), so lookups compare bytes as strcmp does.
 */
import { ByteLevelBpe, SpecialMatcher } from './bpe.js';
import type { Vocab } from './model.js';
import { utf8SequenceLength } from './unicode.js';

export class Tokenizer {
  private readonly lookup = new Map<string, number>();
  private readonly bytePieces: string[] = [];
  private readonly bpe: ByteLevelBpe | undefined;
  private readonly hidden: Set<number>;
  private readonly specials: SpecialMatcher;

  constructor(readonly vocab: Vocab) {
    this.bpe = vocab.byteLevel ? new ByteLevelBpe(vocab) : undefined;
    this.hidden = new Set(vocab.byteLevel ? (vocab.specials ?? []) : []);
    this.specials = new SpecialMatcher(vocab);
    // bsearch over a sorted vocab finds some id for a duplicated piece; we take the first.
    vocab.pieces.forEach((piece, id) => {
      if (!this.lookup.has(piece)) this.lookup.set(piece, id);
    });
    for (let b = 0; b < 256; b++) this.bytePieces.push(String.fromCharCode(b));
  }

  get vocabSize(): number {
    return this.vocab.pieces.length;
  }

  strLookup(str: string): number {
    return this.lookup.get(str) ?? -1;
  }

  /** Encode UTF-8 bytes: optional BOS, then special tokens whole and the text between them as `plain` encodes it. */
  encode(text: Uint8Array, bos: boolean, eos: boolean): number[] {
    if (this.bpe) return [...this.bpe.encode(text, bos && this.vocab.addBos !== false, true), ...(eos ? [this.vocab.eosId] : [])];
    const tokens: number[] = bos ? [this.vocab.bosId] : [];
    let from = 0;
    for (let i = 0; i <= text.length; i++) {
      const s = i < text.length ? this.specials.at(text, i) : undefined;
      if (i < text.length && !s) continue;
      tokens.push(...this.plain(text.subarray(from, i)));
      if (s) {
        tokens.push(s.id);
        from = i + s.bytes.length;
        i = from - 1;
      }
    }
    if (eos) tokens.push(this.vocab.eosId);
    return tokens;
  }

  /** llama2.c's encode of text without specials: dummy-prefix space, code points, byte fallback (+3), greedy merges by score. */
  private plain(text: Uint8Array): number[] {
    const tokens: number[] = [];
    if (text.length > 0) {
      const dummy = this.strLookup(' ');
      if (dummy !== -1) tokens.push(dummy);
    }
    let buf: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if ((c & 0xc0) !== 0x80) buf = [];
      buf.push(c);
      const next = i + 1 < text.length ? text[i + 1] : 0;
      if ((next & 0xc0) === 0x80 && buf.length < 4) continue;
      const id = this.strLookup(String.fromCharCode(...buf));
      if (id !== -1) tokens.push(id);
      else for (const b of buf) tokens.push(b + 3);
      buf = [];
    }
    const { pieces, scores } = this.vocab;
    for (;;) {
      let bestScore = Math.fround(-1e10);
      let bestId = -1;
      let bestIdx = -1;
      for (let i = 0; i < tokens.length - 1; i++) {
        const id = this.strLookup(pieces[tokens[i]] + pieces[tokens[i + 1]]);
        if (id !== -1 && scores[id] > bestScore) {
          bestScore = scores[id];
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx === -1) break;
      tokens.splice(bestIdx, 2, bestId);
    }
    return tokens;
  }

  /** Byte-level pieces are printed through a Utf8Printer; llama2.c's pieces through printableBytes. */
  get byteLevel(): boolean {
    return this.bpe !== undefined;
  }

  /** Generation ends at these, as at BOS: EOS and the end-of-turn token. */
  isStop(token: number): boolean {
    return token === this.vocab.bosId || token === this.vocab.eosId || token === (this.vocab.eotId ?? this.vocab.eosId);
  }

  /** The piece printed for `token` after `prevToken`: no leading space after BOS, `<0xXX>` as the raw byte. */
  decode(prevToken: number, token: number): string {
    if (this.bpe) return this.hidden.has(token) ? '' : this.vocab.pieces[token];
    let piece = this.vocab.pieces[token];
    if (prevToken === this.vocab.bosId && piece.startsWith(' ')) piece = piece.slice(1);
    const m = /^<0x([0-9A-Fa-f]{1,2})/.exec(piece);
    if (m) piece = this.bytePieces[parseInt(m[1], 16)];
    return piece;
  }
}

/** The bytes `safe_printf` writes for a piece: a C string (stops at NUL); a lone unprintable byte prints nothing. */
export function printableBytes(piece: string): Uint8Array {
  const nul = piece.indexOf('\0');
  const s = nul === -1 ? piece : piece.slice(0, nul);
  if (s.length === 0) return new Uint8Array(0);
  if (s.length === 1) {
    const b = s.charCodeAt(0);
    const isprint = b >= 0x20 && b <= 0x7e;
    const isspace = b === 0x20 || (b >= 0x09 && b <= 0x0d);
    if (!isprint && !isspace) return new Uint8Array(0);
  }
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
}

/**
 * Prints only whole UTF-8 characters: a sequence split across tokens waits for its last byte; a
 * sequence that breaks off prints as U+FFFD, as TextDecoder reads it, so a console never gets
 * half a character. The engine's printer is the same.
 */
export class Utf8Printer {
  private pending: number[] = [];
  private need = 0;

  push(bytes: Uint8Array): Uint8Array {
    const out: number[] = [];
    for (const b of bytes) this.byte(b, out);
    return Uint8Array.from(out);
  }

  private byte(b: number, out: number[]): void {
    if (this.need > 0) {
      const lower = this.pending.length === 1 ? secondLower(this.pending[0]) : 0x80;
      const upper = this.pending.length === 1 ? secondUpper(this.pending[0]) : 0xbf;
      if (b >= lower && b <= upper) {
        this.pending.push(b);
        if (this.pending.length === this.need) {
          out.push(...this.pending);
          this.pending = [];
          this.need = 0;
        }
        return;
      }
      out.push(0xef, 0xbf, 0xbd);
      this.pending = [];
      this.need = 0;
    }
    const n = utf8SequenceLength(b);
    if (n === 1) out.push(b);
    else if (n === 0) out.push(0xef, 0xbf, 0xbd);
    else {
      this.pending = [b];
      this.need = n;
    }
  }

  /** At the end of the output: a sequence left open prints as U+FFFD. */
  flush(): Uint8Array {
    const open = this.need > 0;
    this.pending = [];
    this.need = 0;
    return open ? Uint8Array.of(0xef, 0xbf, 0xbd) : new Uint8Array(0);
  }
}

const secondLower = (lead: number) => (lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80);
const secondUpper = (lead: number) => (lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf);
