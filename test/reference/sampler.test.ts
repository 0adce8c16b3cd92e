import { describe, expect, it } from 'vitest';
import { Rng, sampleArgmax, sampleMult, sampleTopp, Sampler } from '../../src/reference/sampler.js';

const probs = (a: number[]) => Float32Array.from(a);

describe('sampler', () => {
  it('argmax takes the first maximum', () => {
    expect(sampleArgmax(probs([0.1, 0.4, 0.4, 0.1]))).toBe(1);
  });

  it('multinomial walks the cdf', () => {
    const p = probs([0.25, 0.25, 0.5]);
    expect(sampleMult(p, 0.1)).toBe(0);
    expect(sampleMult(p, 0.3)).toBe(1);
    expect(sampleMult(p, 0.99)).toBe(2);
  });

  it('top-p keeps the smallest prefix whose mass exceeds p, sorted by probability', () => {
    const p = probs([0.05, 0.5, 0.15, 0.3]);
    // sorted: 0.5 (1), 0.3 (3), 0.15 (2) -> cumulative 0.95 > 0.9 stops there; 0.05 (0) is never drawn
    const seen = new Set<number>();
    for (let c = 0; c < 1; c += 0.001) seen.add(sampleTopp(p, 0.9, Math.fround(c)));
    expect([...seen].sort()).toEqual([1, 2, 3]);
    expect(sampleTopp(p, 0.9, 0.1)).toBe(1);
    expect(sampleTopp(p, 0.9, 0.6)).toBe(3);
    expect(sampleTopp(p, 0.9, 0.99)).toBe(2);
  });

  it('top-p drops candidates below (1-p)/(n-1) before sorting', () => {
    const p = probs([0.96, 0.01, 0.01, 0.02]);
    // cutoff (1-0.5)/3 = 0.1667: only token 0 survives
    for (const c of [0, 0.5, 0.999]) expect(sampleTopp(p, 0.5, c)).toBe(0);
  });

  it('xorshift* floats are uniform in [0, 1) and repeat for a seed', () => {
    const a = new Rng(42n);
    const b = new Rng(42n);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const x = a.f32();
      expect(x).toBe(b.f32());
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.02);
    expect(new Rng(43n).f32()).not.toBe(new Rng(42n).f32());
  });

  it('temperature 0 is greedy and does not touch the logits', () => {
    const s = new Sampler(0, 0.9, 1n);
    const l = probs([1, 3, 2]);
    expect(s.sample(l)).toBe(1);
    expect([...l]).toEqual([1, 3, 2]);
  });
});
