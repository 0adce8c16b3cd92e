/**
 * The transformer forward pass, step for step as llama2.c's `forward()`.
 * Names match the generated C so the two can be read side by side.
 */
import { headSize as headSizeOf, kvCacheKind, kvDim as kvDimOf, qDim as qDimOf, type Config, type F32Matrix, type Matrix, type Weights } from './model.js';
import { createArena } from './wasm.js';
import { expf } from './expf.js';
import { dequantizeRow, matmul, quantize, Quantizer, rmsnorm, softmax, type QuantizedVector } from './math.js';

const f = Math.fround;

export class RunState {
  readonly x: Float32Array; // (dim) activation at the current position
  readonly xb: Float32Array; // (max(dim, qDim)) scratch inside a residual branch
  readonly xb2: Float32Array; // (dim)
  readonly hb: Float32Array; // (hiddenDim)
  readonly hb2: Float32Array; // (hiddenDim)
  readonly q: Float32Array; // (qDim)
  readonly k: Float32Array; // (kvDim)
  readonly v: Float32Array; // (kvDim)
  readonly att: Float32Array; // (nHeads, seqLen)
  readonly logits: Float32Array; // (vocabSize)
  readonly keyCache: Float32Array; // (nLayers, seqLen, kvDim) float32 cache (empty when int8)
  readonly valueCache: Float32Array; // (nLayers, seqLen, kvDim)
  readonly keyQ: QuantizedVector; // int8 cache: q (nLayers, seqLen, kvDim), s (nLayers, seqLen, nKvHeads); empty when f32
  readonly valueQ: QuantizedVector;
  readonly scratch = new Quantizer();

  /** `alloc` places the matmul operands (in a wasm arena, by buildTransformer). */
  constructor(c: Config, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    const kvDim = kvDimOf(c);
    const qDim = qDimOf(c);
    this.x = alloc(c.dim);
    this.xb = alloc(Math.max(c.dim, qDim));
    this.xb2 = alloc(c.dim);
    this.hb = alloc(c.hiddenDim);
    this.hb2 = alloc(c.hiddenDim);
    this.q = alloc(qDim);
    this.k = alloc(kvDim);
    this.v = alloc(kvDim);
    this.logits = alloc(c.vocabSize);
    this.att = new Float32Array(c.nHeads * c.seqLen);
    const cache = c.nLayers * c.seqLen * kvDim;
    const int8 = kvCacheKind(c) === 'int8';
    this.keyCache = new Float32Array(int8 ? 0 : cache);
    this.valueCache = new Float32Array(int8 ? 0 : cache);
    const qv = (): QuantizedVector => ({ q: new Int8Array(int8 ? cache : 0), s: new Float32Array(int8 ? cache / headSizeOf(c) : 0) });
    this.keyQ = qv();
    this.valueQ = qv();
  }
}

export interface Transformer {
  config: Config;
  weights: Weights;
  state: RunState;
}

/** The run state's vectors that matmul reads or writes (see RunState), in floats. */
const stateFloats = (c: Config) => c.dim * 3 + Math.max(c.dim, qDimOf(c)) + qDimOf(c) + c.hiddenDim * 2 + kvDimOf(c) * 2 + c.vocabSize;

/**
 * The transformer ready to run. Its float32 matrices and the run state's matmul operands are copied
 * into one wasm arena when they fit one, so matmulF32 runs its wasm kernel (the same arithmetic).
 */
export function buildTransformer(config: Config, weights: Weights): Transformer {
  const f32s = [...weights.layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3]), weights.wcls].filter((m): m is F32Matrix => m.kind === 'f32');
  const distinct = [...new Set(f32s.map((m) => m.data))];
  const floats = distinct.reduce((n, d) => n + d.length, 0) + stateFloats(config);
  const arena = distinct.length > 0 ? createArena(floats, distinct.length + 9) : undefined;
  if (!arena) return { config, weights, state: new RunState(config) };
  const moved = new Map(distinct.map((d) => [d, arena.alloc(d.length)]));
  for (const [from, to] of moved) to.set(from);
  const place = (m: Matrix): Matrix => (m.kind === 'f32' ? { ...m, data: moved.get(m.data)! } : m);
  const placed: Weights = {
    ...weights,
    layers: weights.layers.map((l) => ({ ...l, wq: place(l.wq), wk: place(l.wk), wv: place(l.wv), wo: place(l.wo), w1: place(l.w1), w2: place(l.w2), w3: place(l.w3) })),
    wcls: place(weights.wcls),
  };
  return { config, weights: placed, state: new RunState(config, (n) => arena.alloc(n)) };
}

/** The RoPE angle's cosine and sine for (pos, headDim), as llama2.c computes them in float32; Llama 3 divides the frequency by its factor. */
export function ropeAngle(pos: number, headDim: number, c: Config): [number, number] {
  if (c.ropeTable) {
    const at = pos * (headSizeOf(c) / 2) + headDim / 2;
    return [c.ropeTable.cos[at], c.ropeTable.sin[at]];
  }
  let freq = f(1 / f(Math.pow(f(c.ropeTheta), f(headDim / headSizeOf(c)))));
  if (c.ropeFreqFactors) freq = f(freq / c.ropeFreqFactors[headDim / 2]);
  const val = f(pos * freq);
  return [f(Math.cos(val)), f(Math.sin(val))];
}

/** cos and sin for every (pos, pair) as (seqLen, headSize/2) tables: what the C engine loads instead of calling libm. */
export function ropeTables(c: Config): { cos: Float32Array; sin: Float32Array } {
  const half = headSizeOf(c) / 2;
  const cos = new Float32Array(c.seqLen * half);
  const sin = new Float32Array(c.seqLen * half);
  for (let pos = 0; pos < c.seqLen; pos++) {
    for (let j = 0; j < half; j++) [cos[pos * half + j], sin[pos * half + j]] = ropeAngle(pos, j * 2, c);
  }
  return { cos, sin };
}

/** RoPE as llama2.c computes it: pairs (i, i+1) rotated by pos * theta^(-headDim/headSize), in float32. */
export function rope(q: Float32Array, k: Float32Array, pos: number, c: Config): void {
  const hs = headSizeOf(c);
  const kvDim = kvDimOf(c);
  const qDim = qDimOf(c);
  for (let i = 0; i < qDim; i += 2) {
    const [fcr, fci] = ropeAngle(pos, i % hs, c);
    const rotn = i < kvDim ? 2 : 1;
    for (let r = 0; r < rotn; r++) {
      const vec = r === 0 ? q : k;
      const v0 = vec[i];
      const v1 = vec[i + 1];
      vec[i] = f(f(v0 * fcr) - f(v1 * fci));
      vec[i + 1] = f(f(v0 * fci) + f(v1 * fcr));
    }
  }
}

/** A bias added to the matmul's output (Qwen2's q, k and v). */
export function addBias(x: Float32Array, b: Float32Array): void {
  for (let i = 0; i < b.length; i++) x[i] = f(x[i] + b[i]);
}

/** RMSNorm of each head of x on its own, one weight for every head (Qwen3's QK-norm). */
export function headNorm(x: Float32Array, weight: Float32Array, heads: number, hs: number, eps: number): void {
  for (let h = 0; h < heads; h++) {
    const head = x.subarray(h * hs, (h + 1) * hs);
    rmsnorm(head, head, weight, hs, eps);
  }
}

/** Whether layer l rotates q and k (SmolLM3 leaves every 4th layer without RoPE). */
export function ropeOn(c: Config, l: number): boolean {
  return !c.noRopeEvery || (l + 1) % c.noRopeEvery !== 0;
}

/** The int8 cache's values and scales for the kvDim values starting at element `at`. */
function cacheSlot(c: QuantizedVector, at: number, kvDim: number, hs: number): QuantizedVector {
  return { q: c.q.subarray(at, at + kvDim), s: c.s.subarray(at / hs, (at + kvDim) / hs) };
}

/** One position: returns the logits (a view into the run state, overwritten by the next call). */
export function forward(t: Transformer, token: number, pos: number): Float32Array {
  const p = t.config;
  const w = t.weights;
  const s = t.state;
  const dim = p.dim;
  const kvDim = kvDimOf(p);
  const kvMul = p.nHeads / p.nKvHeads;
  const hiddenDim = p.hiddenDim;
  const hs = headSizeOf(p);
  const sqrtHs = f(Math.sqrt(hs));
  const int8 = kvCacheKind(p) === 'int8';

  dequantizeRow(s.x, w.tokenEmbedding, token);

  for (let l = 0; l < p.nLayers; l++) {
    const lw = w.layers[l];
    rmsnorm(s.xb, s.x, lw.rmsAtt, dim, p.normEps);

    const loff = l * p.seqLen * kvDim;
    matmul(s.q, s.xb, lw.wq, s.scratch);
    matmul(s.k, s.xb, lw.wk, s.scratch);
    matmul(s.v, s.xb, lw.wv, s.scratch);
    if (lw.bq && lw.bk && lw.bv) {
      addBias(s.q, lw.bq);
      addBias(s.k, lw.bk);
      addBias(s.v, lw.bv);
    }
    if (lw.qNorm && lw.kNorm) {
      headNorm(s.q, lw.qNorm, p.nHeads, hs, p.normEps);
      headNorm(s.k, lw.kNorm, p.nKvHeads, hs, p.normEps);
    }
    if (ropeOn(p, l)) rope(s.q, s.k, pos, p);
    const at = loff + pos * kvDim;
    if (int8) {
      // one group per KV head: its scale sits at the head's element offset / headSize
      quantize(cacheSlot(s.keyQ, at, kvDim, hs), s.k, kvDim, hs);
      quantize(cacheSlot(s.valueQ, at, kvDim, hs), s.v, kvDim, hs);
    } else {
      s.keyCache.set(s.k, at);
      s.valueCache.set(s.v, at);
    }

    for (let h = 0; h < p.nHeads; h++) {
      const qo = h * hs;
      const atto = h * p.seqLen;
      const kvo = Math.floor(h / kvMul) * hs;
      for (let tt = 0; tt <= pos; tt++) {
        const ko = loff + tt * kvDim + kvo;
        let score = 0;
        if (int8) {
          // the int8 values summed against q in float32, then the row's scale once
          for (let i = 0; i < hs; i++) score = f(score + f(s.q[qo + i] * s.keyQ.q[ko + i]));
          score = f(score * s.keyQ.s[ko / hs]);
        } else {
          for (let i = 0; i < hs; i++) score = f(score + f(s.q[qo + i] * s.keyCache[ko + i]));
        }
        s.att[atto + tt] = f(score / sqrtHs);
      }
      softmax(s.att, pos + 1, atto);
      const xbo = h * hs;
      s.xb.fill(0, xbo, xbo + hs);
      for (let tt = 0; tt <= pos; tt++) {
        const vo = loff + tt * kvDim + kvo;
        if (int8) {
          // the attention weight times the row's scale once, then each int8 value
          const a = f(s.att[atto + tt] * s.valueQ.s[vo / hs]);
          for (let i = 0; i < hs; i++) s.xb[xbo + i] = f(s.xb[xbo + i] + f(a * s.valueQ.q[vo + i]));
        } else {
          const a = s.att[atto + tt];
          for (let i = 0; i < hs; i++) s.xb[xbo + i] = f(s.xb[xbo + i] + f(a * s.valueCache[vo + i]));
        }
      }
    }

    matmul(s.xb2, s.xb, lw.wo, s.scratch);
    for (let i = 0; i < dim; i++) s.x[i] = f(s.x[i] + s.xb2[i]);

    rmsnorm(s.xb, s.x, lw.rmsFfn, dim, p.normEps);
    matmul(s.hb, s.xb, lw.w1, s.scratch);
    matmul(s.hb2, s.xb, lw.w3, s.scratch);
    for (let i = 0; i < hiddenDim; i++) {
      let val = s.hb[i];
      val = f(val * f(1 / f(1 + expf(-val))));
      s.hb[i] = f(val * s.hb2[i]);
    }
    matmul(s.xb, s.hb, lw.w2, s.scratch);
    for (let i = 0; i < dim; i++) s.x[i] = f(s.x[i] + s.xb[i]);
  }

  rmsnorm(s.x, s.x, w.rmsFinal, dim, p.normEps);
  matmul(s.logits, s.x, w.wcls, s.scratch);
  return s.logits;
}
