import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { toF32 } from '../../src/quant/kinds.js';
import { ModelFormatError, TokenizerError, InputFileError } from '../../src/errors.js';
import { openModel } from '../../src/model/open.js';
import { loadWeights } from '../../src/model/source.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { expectError } from '../helpers/errors.js';
import { golden, model, ONCE, tempDir } from '../helpers/fixtures.js';
import { generateText } from '../helpers/run.js';
import { writeGguf, writeV1, writeV2 } from '../helpers/writers.js';

const tok = model('tok512.bin');
let dir: string;

beforeAll(() => {
  dir = tempDir();
});

describe('format detection and config', () => {
  it('reads the stories260K header as the README documents it', () => {
    const m = openModel(model('stories260K.bin'));
    expect(m.format).toBe('llama2c-v0');
    expect(m.config).toMatchObject({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512 });
    expect(m.sharedClassifier).toBe(true);
    m.close();
  });

  it('detects format by content, not by name', () => {
    const p = join(dir, 'looks-like.bin');
    copyFileSync(model('stories260K.gguf'), p);
    const m = openModel(p);
    expect(m.format).toBe('gguf');
    expect(m.config.seqLen).toBe(2048);
    m.close();
  });

  it('synthetic_v0 has an unshared classifier, synthetic_v2_q8 is Q8_0 with group size 64', () => {
    const a = openModel(model('synthetic_v0.bin'));
    expect(a.sharedClassifier).toBe(false);
    a.close();
    const b = openModel(model('synthetic_v2_q8.bin'));
    expect(b.format).toBe('llama2c-v2');
    expect(b.storage).toBe('q8_0');
    const wq = b.layerMatrix('wq', 0);
    expect(wq.kind === 'q8' && wq.groupSize).toBe(64);
    b.close();
  });

  it('GGUF tensors are bit-identical to the .bin arrays', () => {
    const a = openModel(model('stories260K.bin'));
    const b = openModel(model('stories260K.gguf'));
    const wa = loadWeights(a);
    const wb = loadWeights(b);
    expect(Buffer.from(toF32(wb.tokenEmbedding).data.buffer).equals(Buffer.from(toF32(wa.tokenEmbedding).data.buffer))).toBe(true);
    for (let l = 0; l < 5; l++) {
      for (const k of ['wq', 'wk', 'w2'] as const) {
        const x = wa.layers[l][k];
        const y = wb.layers[l][k];
        expect(x.kind === 'f32' && y.kind === 'f32' && Buffer.from(x.data.buffer).equals(Buffer.from(y.data.buffer))).toBe(true);
      }
    }
    a.close();
    b.close();
  });
});

describe('re-exported formats run to the same text', () => {
  it('llama2.c v1 (shared and unshared classifier)', () => {
    const p1 = join(dir, 'stories260K.v1.bin');
    const src = openModel(model('stories260K.bin'));
    writeV1(p1, src);
    src.close();
    expect(openModel(p1).format).toBe('llama2c-v1');
    const out = generateText({ model: p1, tokenizer: tok, temperature: 0, steps: 256, prompt: ONCE });
    expect(out.equals(golden('stories260K_once-upon-a-time_t0_n256.txt'))).toBe(true);

    const p2 = join(dir, 'synthetic.v1.bin');
    const s2 = openModel(model('synthetic_v0.bin'));
    writeV1(p2, s2);
    s2.close();
    const out2 = generateText({ model: p2, tokenizer: tok, temperature: 0, steps: 60, prompt: ONCE });
    expect(out2.toString('latin1')).toBe(golden('synthetic_v0_t0_n60.txt').toString('latin1'));
  });

  it('GGUF F16 reads back exactly the f16-rounded weights', () => {
    const p = join(dir, 'f16.gguf');
    const src = openModel(model('stories260K.bin'));
    const vocab = readTokenizer(tok, 512);
    writeGguf(p, src, 'f16', vocab);
    const w = loadWeights(src);
    src.close();
    const m = openModel(p);
    expect(m.storage).toBe('f16');
    const wq = m.layerMatrix('wq', 2);
    const ref = w.layers[2].wq;
    if (wq.kind !== 'f32' || ref.kind !== 'f32') throw new Error('expected float');
    let maxRel = 0;
    let exact = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const r = ref.data[i];
      if (wq.data[i] === r) exact++;
      if (Math.abs(r) >= 2 ** -14) maxRel = Math.max(maxRel, Math.abs(wq.data[i] - r) / Math.abs(r));
    }
    expect(maxRel).toBeLessThanOrEqual(2 ** -11); // half precision, normal range: 11-bit significand
    expect(exact).toBeLessThan(ref.data.length); // really converted
    m.close();
    const text = generateText({ model: p, temperature: 0, steps: 64, prompt: ONCE }).toString();
    expect(text.startsWith('Once upon a time')).toBe(true);
  });

  it('GGUF Q8_0 runs runq arithmetic: same text as a v2 file holding the same int8 values and scales', () => {
    // Q8_0 needs rows divisible by 32: use the 128-wide synthetic model.
    const pg = join(dir, 'syn.q8.gguf');
    const pv = join(dir, 'syn.q8.v2.bin');
    const s2 = openModel(model('synthetic_v0.bin'));
    writeGguf(pg, s2, 'q8_0', readTokenizer(tok, 512));
    writeV2(pv, s2, 32, true);
    s2.close();
    const g = openModel(pg);
    expect(g.storage).toBe('q8_0');
    g.close();
    const a = generateText({ model: pg, temperature: 0, steps: 60, prompt: ONCE });
    const b = generateText({ model: pv, tokenizer: tok, temperature: 0, steps: 60, prompt: ONCE });
    expect(a.toString('latin1')).toBe(b.toString('latin1'));
    // and the int8 path really ran: float weights give another text on this model
    expect(a.toString('latin1')).not.toBe(golden('synthetic_v0_t0_n60.txt').toString('latin1'));
  });

  it('GGUF Q8_0 with rows that are not whole blocks is refused', () => {
    const src = openModel(model('stories260K.gguf'));
    const p = join(dir, 'q8-172.gguf');
    writeGguf(p, src, 'q8_0', src.vocab!);
    src.close();
    expect(() => openModel(p)).toThrow(/ffn_down\.weight has rows of 172, not a multiple of 32/);
  });
});

describe('bad model files are refused with one clear error', () => {
  it('truncated .bin', () => {
    const p = join(dir, 'trunc.bin');
    writeFileSync(p, readFileSync(model('stories260K.bin')).subarray(0, 500_000));
    expectError(() => openModel(p), ModelFormatError, /trunc\.bin: truncated: .*needs 1056540 bytes, file has 500000/);
  });

  it('truncated .gguf', () => {
    const p = join(dir, 'trunc.gguf');
    writeFileSync(p, readFileSync(model('stories260K.gguf')).subarray(0, 600_000));
    expectError(() => openModel(p), ModelFormatError, /trunc\.gguf: truncated/);
    const q = join(dir, 'trunc-meta.gguf');
    writeFileSync(q, readFileSync(model('stories260K.gguf')).subarray(0, 5000));
    expectError(() => openModel(q), ModelFormatError, /trunc-meta\.gguf: truncated GGUF metadata/);
  });

  it('wrong magic / not a model', () => {
    const p = join(dir, 'text.bin');
    writeFileSync(p, 'This is a plain text file, not a model at all. '.repeat(20));
    expectError(() => openModel(p), ModelFormatError, /text\.bin: not a model file/);
  });

  it('unsupported llama2.c version', () => {
    const p = join(dir, 'v7.bin');
    const b = Buffer.alloc(1024);
    b.writeUInt32LE(0x616b3432, 0);
    b.writeInt32LE(7, 4);
    writeFileSync(p, b);
    expectError(() => openModel(p), ModelFormatError, /version 7 is not supported/);
  });

  it('absurd and inconsistent dimensions, checked before allocating', () => {
    const mk = (name: string, vals: number[]) => {
      const b = Buffer.alloc(64);
      vals.forEach((v, i) => b.writeInt32LE(v, i * 4));
      const p = join(dir, name);
      writeFileSync(p, b);
      return p;
    };
    expectError(() => openModel(mk('huge.bin', [1 << 30, 172, 5, 8, 4, 512, 512])), ModelFormatError, /dim = 1073741824/);
    expectError(() => openModel(mk('heads.bin', [64, 172, 5, 7, 7, 512, 512])), ModelFormatError, /not a model file.*not a multiple of nHeads/);
    expectError(() => openModel(mk('kv.bin', [64, 172, 5, 8, 3, 512, 512])), ModelFormatError, /nHeads 8 is not a multiple of nKvHeads 3/);
    expectError(() => openModel(mk('neg.bin', [64, -172, 5, 8, 4, 512, 512])), ModelFormatError, /hiddenDim = -172/);
  });

  it('a directory, a missing file', () => {
    const d = join(dir, 'adir');
    mkdirSync(d, { recursive: true });
    expectError(() => openModel(d), InputFileError, /adir: is a directory/);
    expectError(() => openModel(join(dir, 'nope.bin')), InputFileError, /nope\.bin: model not found/);
  });

  it('tokenizer smaller than the vocabulary, corrupt tokenizer', () => {
    expectError(() => readTokenizer(tok, 32000), TokenizerError, /has 512 tokens but the model's vocabulary is 32000/);
    expectError(() => readTokenizer(model('tokenizer.bin'), 512), TokenizerError, /has 32000 tokens/);
    const p = join(dir, 'tok-trunc.bin');
    writeFileSync(p, readFileSync(tok).subarray(0, 3000));
    expectError(() => readTokenizer(p, 512), TokenizerError, /tok-trunc\.bin: (truncated|token \d+ has length)/);
  });
});
