/**
 * The same GGUF run by llama.cpp (node-llama-cpp) and by retro's reference: prompt ids, greedy tokens
 * and whole distributions, on llama.cpp's own files and goldens and on one fixture per GGML type.
 *
 * Tolerance, and why: llama.cpp does not multiply float activations by quantized weights. Before each
 * quantized matmul it rounds the activations to 8 bits (Q8_0 blocks of 32 for Q4_0/Q5_0/Q8_0, Q8_1 for
 * Q4_1/Q5_1, Q8_K super-blocks of 256 for the K-quants), and to bf16 for BF16 weights; it sums in its
 * own order. Retro's reference multiplies the exactly dequantized weights (bit-identical to ggml's, see
 * ggml.test.ts) by float32 activations (Q8_0 keeps runq's int8 activations, with float32 scales where
 * llama.cpp rounds them to f16). llama.cpp runs here with a float32 KV cache, so that rounding is the
 * only difference left. Largest |log-probability difference| over every token of every step, measured:
 * F32 1.3e-5, F16 1.3e-5 on an AVX2 machine but 0.0022 on an AVX-512 one (llama.cpp's CPU backend picks
 * its F16 dot product by instruction set, and that one rounds the activations), BF16 0.016, Q8_0 and Q4_0..Q5_1 0.066, K-quants 0.107 (0.151 on l3t's 128256-token
 * tied classifier). The bounds below keep 1.5x or more headroom; a wrong dequantizer, RoPE or norm moves
 * log-probabilities by whole nats (a swapped Q4_K min: 7.3). Greedy tokens are compared along
 * llama.cpp's own sequence (teacher forcing), so all 32 steps count: where retro's argmax differs from
 * llama.cpp's token, retro's own margin between the two must be within twice the bound (measured at
 * most 0.05), i.e. a near-tie that the activation rounding can flip.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../../src/model/open.js';
import { Tokenizer } from '../../src/reference/tokenizer.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { llamaGreedy, PURE_TYPES, pureFixture } from '../helpers/llama-oracle.js';
import { loadTransformer, parity, type Parity } from '../helpers/parity.js';

const STEPS = 32;
const TOLERANCE: Record<string, number> = { F32: 0.001, F16: 0.005, BF16: 0.05, Q8_0: 0.1, Q4_0: 0.1, Q4_1: 0.1, Q5_0: 0.1, Q5_1: 0.1, kQuant: 0.25 };
const tolerance = (type: string) => TOLERANCE[type] ?? TOLERANCE.kQuant;

interface Golden {
  prompt: string;
  promptIds: number[];
  ids: number[];
}
const goldens = (name: string): Golden[] =>
  readFileSync(model(`gguf/golden/${name}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Golden);

function expectNearTies(p: Parity, tol: number, what: string): void {
  const report = `${what}: greedy equal for ${p.greedyPrefix}/${STEPS} steps, differing steps ${JSON.stringify(p.diffs)}, max log-prob difference ${p.maxLogitDiff}`;
  expect(p.maxLogitDiff, report).toBeLessThanOrEqual(tol);
  for (const d of p.diffs) expect(d.margin, report).toBeLessThanOrEqual(2 * tol);
}

let dir: string;
beforeAll(() => {
  dir = tempDir('retro-llama-cpp-');
});

describe("llama.cpp's quantized files and goldens (../shared/models/gguf)", () => {
  it.each(['l2-q4_k_m', 'l2-q6_k', 'l2-q8_0'])('%s: prompt ids exactly, greedy tokens and distributions within tolerance', async (name) => {
    const file = model(`gguf/${name}.gguf`);
    const tol = tolerance(name.endsWith('q8_0') ? 'Q8_0' : 'kQuant');
    const src = openModel(file);
    const tok = new Tokenizer(src.vocab!);
    src.close();
    const gold = goldens(name);
    for (const g of gold) expect(tok.encode(Buffer.from(g.prompt, 'utf8'), true, false), g.prompt).toEqual(g.promptIds);
    const t = loadTransformer(file);
    // the goldens as recorded: teacher-forced along their ids, any differing step a near-tie in retro's logits
    for (const g of gold) expectNearTies(parity(t, g.promptIds, g.ids), tol, `${name} golden ${JSON.stringify(g.prompt)}`);
    // the same prompts run live, with llama.cpp's whole distribution at every step
    for (const r of await llamaGreedy(file, gold.map((g) => g.promptIds), STEPS)) {
      expectNearTies(parity(t, r.promptIds, r.ids, r.logProbs), tol, `${name} live`);
    }
  }, 300_000);

  it("l3t-q4_k_m (Llama 3 byte-level BPE, tied, theta 500000): prompt ids exactly, greedy tokens and distributions within tolerance", async () => {
    const file = model('gguf/l3t-q4_k_m.gguf');
    const src = openModel(file);
    expect(src.sharedClassifier).toBe(true);
    expect(src.config.ropeTheta).toBe(500000);
    expect(src.tokenizer).toMatchObject({ kind: 'gpt2', size: 128256, chatTemplate: true, bosId: 128000 });
    const tok = new Tokenizer(src.vocab!);
    src.close();
    const gold = goldens('l3t-q4_k_m');
    for (const g of gold) expect(tok.encode(Buffer.from(g.prompt, 'utf8'), true, false), g.prompt).toEqual(g.promptIds);
    const t = loadTransformer(file);
    for (const g of gold) expectNearTies(parity(t, g.promptIds, g.ids), tolerance('kQuant'), `l3t golden ${JSON.stringify(g.prompt)}`);
    for (const r of await llamaGreedy(file, gold.map((g) => g.promptIds), STEPS)) {
      expectNearTies(parity(t, r.promptIds, r.ids, r.logProbs), tolerance('kQuant'), 'l3t live');
    }
  }, 300_000);
});

describe('one llama.cpp-quantized fixture per GGML type', () => {
  it.each(PURE_TYPES)('%s: prompt ids exactly, greedy tokens and distributions within tolerance', async (type) => {
    const file = pureFixture(model('gguf/l2-q8_0.gguf'), dir, type);
    const src = openModel(file);
    expect(src.storage).toBe(type.toLowerCase());
    const tok = new Tokenizer(src.vocab!);
    src.close();
    const prompts = [ONCE, 'def f(x):\n    return x  # ok\r\n\tdone  '];
    const runs = await llamaGreedy(file, prompts, STEPS);
    const t = loadTransformer(file);
    runs.forEach((r, i) => {
      expect(tok.encode(Buffer.from(prompts[i], 'utf8'), true, false)).toEqual(r.promptIds);
      expectNearTies(parity(t, r.promptIds, r.ids, r.logProbs), tolerance(type), `${type} ${JSON.stringify(prompts[i])}`);
    });
  }, 120_000);
});
