/**
 * Byte-level BPE (GPT-2 style, Llama 3, SmolLM): special tokens matched whole, the pre-tokenizer
 * scanner, then per piece either the whole piece as a token (`ignoreMerges`, Llama 3) or its bytes
 * merged pair by pair, lowest merge rank first and leftmost first among equal ranks, as the
 * Hugging Face tokenizers and llama.cpp do. Pieces are raw bytes (latin1 strings): the GPT-2
 * byte-to-unicode mapping is undone when the vocabulary is read. The engine's encode is this
 * function, step for step.
 */
import type { ByteLevel, Vocab } from './model.js';
import { pretokenize } from './pretokenize.js';
import { categoryOf, categoryRuns, decodeUtf8 } from './unicode.js';

const PAIR = 2 ** 21;

export class ByteLevelBpe {
  private readonly lookup = new Map<string, number>();
  private readonly ranks = new Map<number, number>();
  private readonly results: Int32Array;
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly specials: SpecialMatcher;
  private readonly runs: Uint32Array;
  readonly bl: ByteLevel;

  constructor(readonly vocab: Vocab) {
    this.bl = vocab.byteLevel!;
    this.runs = this.bl.runs ?? categoryRuns();
    vocab.pieces.forEach((p, id) => {
      if (!this.lookup.has(p)) this.lookup.set(p, id);
      if (p.length === 1 && this.byteIds[p.charCodeAt(0)] === -1) this.byteIds[p.charCodeAt(0)] = id;
    });
    const m = this.bl.merges;
    this.results = new Int32Array(m.length / 2);
    for (let r = 0; r < m.length / 2; r++) {
      const key = m[2 * r] * PAIR + m[2 * r + 1];
      if (!this.ranks.has(key)) this.ranks.set(key, r);
      this.results[r] = this.lookup.get(vocab.pieces[m[2 * r]] + vocab.pieces[m[2 * r + 1]]) ?? -1;
    }
    this.specials = new SpecialMatcher(vocab);
  }

  /** Encode UTF-8 bytes (invalid sequences read as U+FFFD); special tokens in the text become their ids when `special`. */
  encode(text: Uint8Array, bos: boolean, special: boolean): number[] {
    const ids: number[] = bos ? [this.vocab.bosId] : [];
    const { cps, bytes, offsets } = decodeUtf8(text);
    const cls = new Uint8Array(cps.length);
    for (let i = 0; i < cps.length; i++) cls[i] = categoryOf(this.runs, cps[i]);
    let from = 0; // code point index where the plain text starts
    const plain = (to: number) => {
      let start = from;
      for (const end of pretokenize(this.bl.pre, cps, cls, from, to)) {
        this.piece(bytes.subarray(offsets[start], offsets[end]), ids);
        start = end;
      }
    };
    for (let i = 0; i < cps.length; i++) {
      const s = special ? this.specials.at(bytes, offsets[i]) : undefined;
      if (!s) continue;
      plain(i);
      ids.push(s.id);
      let j = i;
      while (offsets[j] < offsets[i] + s.bytes.length) j++;
      from = j;
      i = j - 1;
    }
    plain(cps.length);
    return ids;
  }

  /** One pre-tokenizer piece: the whole piece when the vocabulary has it (ignoreMerges), else merges over its bytes. */
  private piece(bytes: Uint8Array, ids: number[]): void {
    if (bytes.length === 0) return;
    if (this.bl.ignoreMerges) {
      const id = this.lookup.get(Buffer.from(bytes).toString('latin1'));
      if (id !== undefined) {
        ids.push(id);
        return;
      }
    }
    const n = bytes.length;
    const sym = Array.from(bytes, (b) => this.byteIds[b]);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    // a heap of candidate merges (rank, left index); stale ones are dropped when popped
    const heap = new MergeHeap();
    const push = (l: number) => {
      const r = next[l];
      if (r < 0) return;
      const rank = this.ranks.get(sym[l] * PAIR + sym[r]);
      if (rank !== undefined) heap.push(rank, l, sym[l], sym[r]);
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    for (let e = heap.pop(); e; e = heap.pop()) {
      const l = e.left;
      const r = next[l];
      if (sym[l] !== e.a || r < 0 || sym[r] !== e.b) continue;
      sym[l] = this.results[e.rank];
      sym[r] = -1;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      if (prev[l] >= 0) push(prev[l]);
      push(l);
    }
    for (let i = 0; i >= 0; i = next[i]) ids.push(sym[i]);
  }
}

/** The special tokens whose text is matched whole, longest first as the Hugging Face tokenizers and llama.cpp try them (the engine's order too). */
export class SpecialMatcher {
  private readonly specials: { bytes: Buffer; id: number }[];

  constructor(vocab: Vocab) {
    this.specials = (vocab.specials ?? []).map((id) => ({ bytes: Buffer.from(vocab.pieces[id], 'latin1'), id })).sort((a, b) => b.bytes.length - a.bytes.length || a.id - b.id);
  }

  /** The special token whose bytes start at `at`, or undefined. */
  at(bytes: Uint8Array, at: number): { bytes: Buffer; id: number } | undefined {
    for (const s of this.specials) {
      if (s.bytes.length > 0 && at + s.bytes.length <= bytes.length && s.bytes.equals(bytes.subarray(at, at + s.bytes.length))) return s;
    }
    return undefined;
  }
}

interface Entry {
  rank: number;
  left: number;
  a: number;
  b: number;
}

/** Binary min-heap on (rank, left index): the engine keeps the same one. */
class MergeHeap {
  private readonly h: Entry[] = [];
  private less(x: Entry, y: Entry): boolean {
    return x.rank < y.rank || (x.rank === y.rank && x.left < y.left);
  }
  push(rank: number, left: number, a: number, b: number): void {
    const h = this.h;
    h.push({ rank, left, a, b });
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): Entry | undefined {
    const h = this.h;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
