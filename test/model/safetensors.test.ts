/**
 * Hugging Face folders: the same weights as a GGUF (written by llama.cpp) and as safetensors (single
 * file and sharded; F32, F16, BF16) give bit-identical logits, so Q/K un-permuting, dtypes and shards
 * are right; Llama 3 rope_scaling gives the same run as the rope_freqs tensor; bad folders are one line.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputFileError, ModelFormatError } from '../../src/errors.js';
import { openModel } from '../../src/model/open.js';
import { llama3RopeFactors } from '../../src/model/safetensors.js';
import { forward } from '../../src/reference/forward.js';
import { expectError } from '../helpers/errors.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { f32Tensor, llamaGguf, vocabKvs } from '../helpers/gguf-writer.js';
import { pureFixture } from '../helpers/llama-oracle.js';
import { loadTransformer } from '../helpers/parity.js';
import { writeHfFolder, type HfDtype } from '../helpers/safetensors-writer.js';

const IDS = [1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 29889];

/** Every logit of a short run, as raw bits. */
function logitBits(path: string): Buffer {
  const t = loadTransformer(path);
  return Buffer.concat(IDS.map((id, pos) => Buffer.from(forward(t, id, pos).slice().buffer)));
}

let dir: string;
beforeAll(() => {
  dir = tempDir('retro-hf-');
});

function hfFrom(gguf: string, name: string, dtype: HfDtype, shards = 1, config?: Record<string, unknown>): string {
  const out = join(dir, name);
  const src = openModel(gguf);
  // norms stay F32 as in llama.cpp's F16/BF16 GGUFs: the same weights on both sides
  writeHfFolder(out, src, { dtype, normDtype: 'F32', shards, config });
  src.close();
  return out;
}

describe('the same weights as GGUF and as a Hugging Face folder give identical output', () => {
  it.each([
    ['F32', 'F32', 1],
    ['F32', 'F32', 3],
    ['F16', 'F16', 1],
    ['BF16', 'BF16', 2],
  ] as const)('GGUF %s from llama.cpp vs safetensors %s in %i file(s)', (gtype, dtype, shards) => {
    const gguf = pureFixture(model('gguf/l2-q8_0.gguf'), dir, gtype);
    const hf = hfFrom(gguf, `hf-${dtype}-${shards}`, dtype, shards);
    const src = openModel(hf);
    expect(src.format).toBe('hf-safetensors');
    expect(src.storage).toBe(dtype.toLowerCase());
    expect(new Set(src.tensors!.map((x) => x.type))).toEqual(new Set(dtype === 'F32' ? ['F32'] : [dtype, 'F32']));
    expect(src.config).toEqual(openModel(gguf).config);
    src.close();
    expect(logitBits(hf).equals(logitBits(gguf))).toBe(true);
  }, 120_000);

  it("Q/K are stored in Hugging Face's half-split order and read back in pair order", () => {
    const gguf = pureFixture(model('gguf/l2-q8_0.gguf'), dir, 'F32');
    const hf = hfFrom(gguf, 'hf-perm', 'F32');
    const a = openModel(hf);
    const b = openModel(gguf);
    const wq = a.layerMatrix('wq', 0);
    const ref = b.layerMatrix('wq', 0);
    expect(wq.kind === 'f32' && ref.kind === 'f32' && Buffer.from(wq.data.buffer).equals(Buffer.from(ref.data.buffer))).toBe(true);
    // head size 64: pair row 1 (the odd half of pair 0) lies 32 rows after pair row 0 on disk
    const raw = readFileSync(join(hf, 'model.safetensors'));
    const row = (r: number) => Buffer.from((ref as { data: Float32Array }).data.slice(r * 256, (r + 1) * 256).buffer);
    expect(raw.indexOf(row(1)) - raw.indexOf(row(0))).toBe(32 * 256 * 4);
    a.close();
    b.close();
  });

  it("llama3RopeFactors are Meta's published Llama 3 scaling (apply_scaling, computed here in float64) for Llama 3.1 and 3.2's settings", () => {
    // llama-models' apply_scaling: each frequency kept, divided by the factor, or blended between; llama.cpp stores
    // the divisor freq / new_freq as rope_freqs (convert_hf_to_gguf's generate_extra_tensors computes it in float32).
    const published = (hs: number, theta: number, factor: number, low: number, high: number, old: number) =>
      Array.from({ length: hs / 2 }, (_, i) => {
        const freq = 1 / theta ** ((2 * i) / hs);
        const wavelen = (2 * Math.PI) / freq;
        if (wavelen < old / high) return 1;
        if (wavelen > old / low) return factor;
        const smooth = (old / wavelen - low) / (high - low);
        return freq / ((1 - smooth) * (freq / factor) + smooth * freq);
      });
    for (const [hs, factor] of [
      [128, 8], // Llama 3.1 8B
      [64, 32], // Llama 3.2 1B
    ]) {
      const want = published(hs, 500000, factor, 1, 4, 8192);
      const got = llama3RopeFactors(hs, 500000, { factor, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 }, 'x');
      expect(got).toHaveLength(hs / 2);
      // all three branches are taken
      expect(want.filter((f) => f > 1 && f < factor).length).toBeGreaterThan(2);
      expect(want.filter((f) => f === 1).length).toBeGreaterThan(2);
      expect(want.filter((f) => f === factor).length).toBeGreaterThan(2);
      // float32 steps against float64: within a few float32 ulps
      want.forEach((f, i) => expect(Math.abs(got[i] - f) / f, `hs ${hs} factor ${factor} pair ${i}: ${got[i]} vs ${f}`).toBeLessThan(1e-6));
    }
  });

  it("Llama 3 rope_scaling in config.json runs as the GGUF's rope_freqs tensor, head_dim apart from hidden/heads", () => {
    const factors = llama3RopeFactors(96, 500000, { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }, 'x');
    // high frequencies untouched, low ones divided by the factor, a smooth band between
    expect(factors[0]).toBe(1);
    expect(factors[47]).toBe(8);
    expect([...factors].some((f) => f > 1 && f < 8)).toBe(true);
    expect([...factors].every((f, i) => i === 0 || f >= factors[i - 1])).toBe(true);
    const gguf = join(dir, 'l3-meta.gguf');
    llamaGguf(gguf, { dim: 256, hiddenDim: 512, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 32000, headSize: 96, contextLength: 512 }, {
      vocab: vocabKvs(model('gguf/l2-q8_0.gguf')),
      tied: true,
      kvs: [['llama.rope.freq_base', 'f32', 500000]],
      tensors: [f32Tensor('rope_freqs.weight', 1, 48, factors)],
    });
    const hf = hfFrom(gguf, 'hf-l3', 'F32', 1, {
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
    });
    const src = openModel(hf);
    expect(src.sharedClassifier).toBe(true);
    expect(src.config.headSize).toBe(96);
    expect([...src.config.ropeFreqFactors!]).toEqual([...factors]);
    src.close();
    expect(logitBits(hf).equals(logitBits(gguf))).toBe(true);
    // and the factors matter: without them the run differs
    const plain = hfFrom(gguf, 'hf-l3-plain', 'F32');
    expect(logitBits(plain).equals(logitBits(gguf))).toBe(false);
  }, 120_000);
});

describe('bad Hugging Face folders are one clear error', () => {
  let good: string;
  beforeAll(() => {
    good = hfFrom(pureFixture(model('gguf/l2-q8_0.gguf'), dir, 'F32'), 'hf-good', 'F32');
  });
  const variant = (name: string, change: (d: string) => void): string => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(good, f), join(d, f));
    change(d);
    return d;
  };
  const editConfig = (d: string, edit: (c: Record<string, unknown>) => void) => {
    const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    edit(c);
    writeFileSync(join(d, 'config.json'), JSON.stringify(c));
  };
  const editFile = (d: string, edit: (b: Buffer) => Buffer) => writeFileSync(join(d, 'model.safetensors'), edit(readFileSync(join(d, 'model.safetensors'))));
  const headerEdit = (b: Buffer, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void, replace?: string) => {
    const n = Number(b.readBigUInt64LE(0));
    const h = JSON.parse(b.subarray(8, 8 + n).toString());
    edit(h);
    let json = replace ?? JSON.stringify(h);
    json += ' '.repeat(Math.max(0, n - json.length));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, Buffer.from(json), b.subarray(8 + n)]);
  };

  it('a family refused by what it lacks', () =>
    expectError(() => openModel(variant('arch', (d) => editConfig(d, (c) => (c.architectures = ['Qwen3MoeForCausalLM'])))), ModelFormatError, /config\.json architecture "Qwen3MoeForCausalLM" needs mixture of experts/));
  it('a row whose tensors are missing', () =>
    expectError(() => openModel(variant('qwen3', (d) => editConfig(d, (c) => (c.architectures = ['Qwen3ForCausalLM'])))), ModelFormatError, /tensor model\.layers\.0\.self_attn\.q_norm\.weight is missing/));
  it('attention biases', () =>
    expectError(() => openModel(variant('bias', (d) => editConfig(d, (c) => (c.attention_bias = true)))), ModelFormatError, /attention_bias is true: bias vectors/));
  it('rope_scaling other than llama3', () =>
    expectError(() => openModel(variant('yarn', (d) => editConfig(d, (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 })))), ModelFormatError, /rope_scaling of type "yarn"/));
  it('config.json that is not JSON', () =>
    expectError(() => openModel(variant('json', (d) => writeFileSync(join(d, 'config.json'), '{"hidden_size": 2'))), ModelFormatError, /config\.json: config\.json is not valid JSON/));
  it('truncated safetensors', () =>
    expectError(() => openModel(variant('trunc', (d) => editFile(d, (b) => b.subarray(0, b.length - 1000)))), ModelFormatError, /corrupt safetensors: tensor \S+ lies at bytes \d+\.\.\d+ of the data, past the end/));
  it('a huge header length', () =>
    expectError(() => openModel(variant('hdr', (d) => editFile(d, (b) => (b.writeBigUInt64LE(1n << 60n, 0), b)))), ModelFormatError, /header length 1152921504606846976 does not fit in the file/));
  it('dtype that does not match the byte span', () =>
    expectError(
      () => openModel(variant('dtype', (d) => editFile(d, (b) => headerEdit(b, (h) => (h['model.norm.weight'].dtype = 'F16'))))),
      ModelFormatError,
      /tensor model\.norm\.weight is F16 \[256\] \(512 bytes\) but spans 1024 bytes/,
    ));
  it('a dtype retro does not read', () =>
    expectError(
      () => openModel(variant('i8', (d) => editFile(d, (b) => headerEdit(b, (h) => (h['model.norm.weight'].dtype = 'I8'))))),
      ModelFormatError,
      /tensor model\.norm\.weight has dtype I8; retro reads F32, F16 and BF16/,
    ));
  it('a missing shard', () =>
    expectError(
      () => openModel(variant('shard', (d) => writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00002-of-00002.safetensors' } })))),
      Error,
      /model-00002-of-00002\.safetensors: safetensors shard not found/,
    ));
  it('a header that is JSON null (issue 27)', () =>
    expectError(() => openModel(variant('null', (d) => editFile(d, (b) => headerEdit(b, () => {}, 'null')))), ModelFormatError, /corrupt safetensors: the header is null, not a JSON object of tensors/));
  it('dtype "constructor" is an unknown dtype, not a JavaScript function (issue 27)', () =>
    expectError(
      () => openModel(variant('ctor', (d) => editFile(d, (b) => headerEdit(b, (h) => (h['model.norm.weight'].dtype = 'constructor'))))),
      ModelFormatError,
      /tensor model\.norm\.weight has dtype constructor; retro reads F32, F16 and BF16 safetensors$/,
    ));
  it('two tensors whose data_offsets overlap (issue 27)', () =>
    expectError(
      () =>
        openModel(
          variant('overlap', (d) =>
            editFile(d, (b) =>
              headerEdit(b, (h) => {
                h['model.layers.0.post_attention_layernorm.weight'].data_offsets = h['model.layers.0.input_layernorm.weight'].data_offsets;
              }),
            ),
          ),
        ),
      ModelFormatError,
      /corrupt safetensors: tensors model\.layers\.0\.\S+ \(bytes \d+\.\.\d+\) and model\.layers\.0\.\S+ \(bytes \d+\.\.\d+\) overlap/,
    ));
  it('num_attention_heads 0 is named, not head_dim (issue 27)', () =>
    expectError(() => openModel(variant('heads0', (d) => editConfig(d, (c) => (c.num_attention_heads = 0)))), ModelFormatError, /config\.json num_attention_heads 0 is not a positive integer/));
  it('rope_scaling factor 0 or low >= high: refused, no NaN RoPE tables (issue 27)', () => {
    const l3 = (extra: Record<string, unknown>) => (c: Record<string, unknown>) => (c.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, ...extra });
    expect(() => openModel(variant('rope-ok', (d) => editConfig(d, l3({}))))).not.toThrow();
    expectError(() => openModel(variant('rope0', (d) => editConfig(d, l3({ factor: 0 })))), ModelFormatError, /rope_scaling factor 0 is not positive/);
    expectError(() => openModel(variant('rope-eq', (d) => editConfig(d, l3({ low_freq_factor: 4 })))), ModelFormatError, /low_freq_factor 4 and high_freq_factor 4 are not 0 < low < high/);
  });
  it('a shard that is a FIFO is refused at once, not waited on; one linked to /dev/zero is a device, not "a directory" (issue 27)', () => {
    expectError(() => openModel(variant('fifo', (d) => (rmSync(join(d, 'model.safetensors')), execFileSync('mkfifo', [join(d, 'model.safetensors')])))), InputFileError, /model\.safetensors: is a FIFO \(named pipe\), not a safetensors shard file/);
    expectError(() => openModel(variant('zero', (d) => (rmSync(join(d, 'model.safetensors')), symlinkSync('/dev/zero', join(d, 'model.safetensors'))))), InputFileError, /model\.safetensors: is a character device, not a safetensors shard file/);
  }, 10_000);
  it('a tensor the config does not account for', () =>
    expectError(() => openModel(variant('layers', (d) => editConfig(d, (c) => (c.num_hidden_layers = 1)))), ModelFormatError, /tensor model\.layers\.1\.\S+ is not part of the llama layers/));
});
