/**
 * Deterministic synthetic models: seeded random weights in llama2.c v0 form,
 * and a small byte-level tokenizer. Used as retro's built-in default model
 * (no pretrained weights ship with retro) and for benchmarks of a given shape.
 */
import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { kvDim, type Config, type Vocab } from '../reference/model.js';

/** splitmix32-style generator: fast, seeded, identical on every platform. */
class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  /** Irwin-Hall approximation of a normal draw: cheap and deterministic. */
  normal(): number {
    return this.next() + this.next() + this.next() + this.next() - 2;
  }
}

export interface SyntheticSpec {
  config: Config;
  sharedClassifier: boolean;
  seed: number;
}

const CHUNK = 1 << 16;

/** Writes a llama2.c v0 checkpoint to `path` (via a temporary file and rename), streaming. */
export function writeSyntheticV0(path: string, spec: SyntheticSpec): number {
  const c = spec.config;
  const rng = new Prng(spec.seed);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  try {
    const header = Buffer.alloc(28);
    [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, spec.sharedClassifier ? c.vocabSize : -c.vocabSize, c.seqLen].forEach((v, i) =>
      header.writeInt32LE(v, i * 4),
    );
    bytes += writeSync(fd, header);
    const emit = (count: number, gen: () => number) => {
      const buf = new Float32Array(CHUNK);
      for (let done = 0; done < count; ) {
        const n = Math.min(CHUNK, count - done);
        for (let i = 0; i < n; i++) buf[i] = gen();
        bytes += writeSync(fd, new Uint8Array(buf.buffer, 0, n * 4));
        done += n;
      }
    };
    const weight = (fanIn: number) => () => (rng.normal() * 1.7) / Math.sqrt(fanIn);
    const norm = () => 1 + rng.normal() * 0.1;
    const kv = kvDim(c);
    const L = c.nLayers;
    emit(c.vocabSize * c.dim, () => rng.normal() * 0.5);
    emit(L * c.dim, norm);
    emit(L * c.dim * c.dim, weight(c.dim));
    emit(L * kv * c.dim, weight(c.dim));
    emit(L * kv * c.dim, weight(c.dim));
    emit(L * c.dim * c.dim, weight(c.dim));
    emit(L * c.dim, norm);
    emit(L * c.hiddenDim * c.dim, weight(c.dim));
    emit(L * c.dim * c.hiddenDim, weight(c.hiddenDim));
    emit(L * c.hiddenDim * c.dim, weight(c.dim));
    emit(c.dim, norm);
    emit(c.seqLen * (c.dim / c.nHeads), () => 0); // legacy freq_cis rows, unused
    if (!spec.sharedClassifier) emit(c.vocabSize * c.dim, weight(c.dim));
    closeSync(fd);
    renameSync(tmp, path);
    return bytes;
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * A byte-level llama2.c tokenizer for `vocabSize` tokens: <unk>, BOS, EOS,
 * the 256 byte tokens, then printable pieces (letters, pairs of letters) so
 * synthetic text is readable. Scores favour longer pieces.
 */
export function syntheticTokenizer(vocabSize: number): Buffer {
  const pieces: string[] = ['<unk>', '\n<s>\n', '\n</s>\n'];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const letters = ' etaoinshrdlucmfwypvbgkjqxz.,ETAOINSHRDLUCMFWYPVBGKJQXZ';
  for (const ch of letters) if (pieces.length < vocabSize) pieces.push(ch);
  outer: for (const a of letters) {
    for (const b of 'etaoinshrdlu ') {
      if (pieces.length >= vocabSize) break outer;
      pieces.push(a + b);
    }
  }
  for (let i = 0; pieces.length < vocabSize; i++) pieces.push(`<extra${i}>`);
  const records = pieces.map((p, id) => {
    const bytes = Buffer.from(p, 'latin1');
    const rec = Buffer.alloc(8 + bytes.length);
    rec.writeFloatLE(id < 259 ? 0 : -id, 0);
    rec.writeInt32LE(bytes.length, 4);
    bytes.copy(rec, 8);
    return rec;
  });
  const head = Buffer.alloc(4);
  head.writeUInt32LE(pieces.reduce((m, p) => Math.max(m, p.length), 0), 0);
  return Buffer.concat([head, ...records]);
}

/** The synthetic tokenizer as a vocabulary (for planning shapes without writing files). */
export function syntheticVocab(vocabSize: number): Vocab {
  const b = syntheticTokenizer(vocabSize);
  const pieces: string[] = [];
  for (let at = 4; at < b.length; at += 8 + b.readInt32LE(at + 4)) pieces.push(b.toString('latin1', at + 8, at + 8 + b.readInt32LE(at + 4)));
  return { pieces, scores: new Float32Array(vocabSize), maxTokenLength: b.readUInt32LE(0), bosId: 1, eosId: 2 };
}

export const SHAPES: Record<string, Omit<Config, 'ropeTheta' | 'normEps'>> = {
  tiny: { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128 },
  '15M': { dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, seqLen: 256 },
  '110M': { dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, seqLen: 1024 },
  // The shapes of models people download (for plan tables and benchmarks; weights are synthetic).
  '42M': { dim: 512, hiddenDim: 1376, nLayers: 8, nHeads: 8, nKvHeads: 8, vocabSize: 32000, seqLen: 1024 },
  'SmolLM2-135M': { dim: 576, hiddenDim: 1536, nLayers: 30, nHeads: 9, nKvHeads: 3, vocabSize: 49152, seqLen: 8192 },
  'SmolLM2-360M': { dim: 960, hiddenDim: 2560, nLayers: 32, nHeads: 15, nKvHeads: 5, vocabSize: 49152, seqLen: 8192 },
  'TinyLlama-1.1B': { dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, vocabSize: 32000, seqLen: 2048 },
  'Llama-3.2-1B': { dim: 2048, hiddenDim: 8192, nLayers: 16, nHeads: 32, nKvHeads: 8, vocabSize: 128256, seqLen: 131072 },
};

/** Shapes whose classifier is the token embedding (the rest have their own output matrix). */
export const TIED_SHAPES = new Set(['tiny', '15M', '42M', '110M', 'SmolLM2-135M', 'SmolLM2-360M', 'Llama-3.2-1B']);

export function shapeConfig(name: string): Config {
  return { ...SHAPES[name], ropeTheta: 10000, normEps: 1e-5 };
}

export const DEFAULT_MODEL = { shape: 'tiny', seed: 20260101, description: "retro's built-in default model (tiny, seeded random weights: the text is gibberish)" };

/** retro's built-in default model, generated deterministically into `dir`. */
export function writeDefaultModel(dir: string): { model: string; tokenizer: string } {
  const model = join(dir, 'default-model.bin');
  const tokenizer = join(dir, 'default-tokenizer.bin');
  const config = shapeConfig(DEFAULT_MODEL.shape);
  writeSyntheticV0(model, { config, sharedClassifier: true, seed: DEFAULT_MODEL.seed });
  writeFileSync(tokenizer, syntheticTokenizer(config.vocabSize));
  return { model, tokenizer };
}
