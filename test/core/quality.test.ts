import { describe, expect, it } from 'vitest';
import { runQuality } from '../../src/core/quality.js';
import { klDivergence, logSoftmax } from '../../src/verify/quality.js';
import { retro } from '../helpers/cli.js';
import { model, ONCE } from '../helpers/fixtures.js';

const base = { tokenizer: model('tok512.bin'), groupSize: 32, prompt: Buffer.from(ONCE), steps: 128 };

describe('retro quality', () => {
  it('KL is zero for the same distribution and positive otherwise', () => {
    const a = logSoftmax(Float32Array.from([1, 2, 3]));
    expect(klDivergence(a, a)).toBe(0);
    expect(klDivergence(a, logSoftmax(Float32Array.from([3, 2, 1])))).toBeGreaterThan(0.5);
  });

  it('stories260K: q8 stays close to f32, q4 drifts further', () => {
    const r = runQuality({ ...base, model: model('stories260K.bin'), quants: ['q8', 'q4'] });
    const [q8, q4] = r.scores.map((s) => s.score);
    expect(q8.positions).toBe(128);
    expect(q8.top1Agreement).toBeGreaterThan(0.95);
    expect(q8.meanKl).toBeLessThan(0.005);
    expect(q4.meanKl).toBeGreaterThan(10 * q8.meanKl);
    expect(q4.top1Agreement).toBeLessThan(q8.top1Agreement);
    expect(q4.perplexityQuant).toBeGreaterThan(q8.perplexityQuant);
    expect(q8.perplexityRef).toBe(q4.perplexityRef);
  });

  it('stories260K with an int8 KV cache: the f32 weights scored with it too, close to f32 and apart from the f32-cache rows', () => {
    const r = runQuality({ ...base, model: model('stories260K.bin'), quants: ['q8'], kvCache: 'int8' });
    expect(r.scores.map((s) => [s.quant, s.kvCache])).toEqual([
      ['f32', 'int8'],
      ['q8', 'int8'],
    ]);
    const [cache, both] = r.scores.map((s) => s.score);
    // the cache alone costs something (it is not the f32 model), but little: measured 7.4e-4 nats, 98.8% top-1
    expect(cache.meanKl).toBeGreaterThan(0);
    expect(cache.meanKl).toBeLessThan(0.005);
    expect(cache.top1Agreement).toBeGreaterThan(0.95);
    const plain = runQuality({ ...base, model: model('stories260K.bin'), quants: ['q8'] }).scores[0].score;
    expect(both.meanKl).not.toBe(plain.meanKl);
    expect(both.perplexityRef).toBe(plain.perplexityRef);
  });

  it('a model already in Q8 with the same group size loses nothing more', () => {
    const r = runQuality({ ...base, model: model('synthetic_v2_q8.bin'), quants: ['q8'], groupSize: 64, steps: 32 });
    expect(r.scores[0].score.meanKl).toBe(0);
    expect(r.scores[0].score.top1Agreement).toBe(1);
  });

  it('CLI: a held text file, --json; a missing file is one clear error', async () => {
    const ok = await retro(['quality', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '--text', model('golden/stories260K_once-upon-a-time_t0_n256.txt'), '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const j = JSON.parse(ok.stdout.toString());
    expect(j.tokens).toBeGreaterThan(100);
    expect(j.scores.map((s: { quant: string }) => s.quant)).toEqual(['q8', 'q4']);
    const bad = await retro(['quality', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '--text', '/nonexistent.txt']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^retro: \/nonexistent\.txt: cannot read the text \(ENOENT\) \(fix: /);
  });
});
