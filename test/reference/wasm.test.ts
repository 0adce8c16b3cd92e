/** The wasm matmul kernel against the JS one: the same float32 steps, so the same bits. */
import { describe, expect, it } from 'vitest';
import { matmulF32 } from '../../src/reference/math.js';
import { createArena, wasmMatmul } from '../../src/reference/wasm.js';

function fill(a: Float32Array, seed: number): void {
  let s = seed;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = ((s >>> 8) / 16777216 - 0.5) * (s & 1 ? 3 : 1e-3);
  }
}

describe('wasm matmul', () => {
  for (const [n, d] of [
    [288, 768],
    [172, 63],
    [7, 5],
    [1, 1],
    [64, 3],
  ]) {
    it(`${d} x ${n}: bit for bit the JS kernel, tail rows included`, () => {
      const arena = createArena(n * d + n + d, 3)!;
      const w = arena.alloc(n * d);
      const x = arena.alloc(n);
      const out = arena.alloc(d);
      fill(w, n * 31 + d);
      fill(x, d * 17 + n);
      expect(wasmMatmul(out, x, w)).toBeDefined();
      matmulF32(out, x, w, n, d);
      const ref = new Float32Array(d);
      matmulF32(ref, Float32Array.from(x), Float32Array.from(w), n, d);
      expect(Buffer.from(out.buffer, out.byteOffset, out.byteLength).equals(Buffer.from(ref.buffer))).toBe(true);
    });
  }

  it('special values: NaN, infinities, signed zeros, subnormals, overflow', () => {
    const n = 9;
    const d = 6;
    const arena = createArena(n * d + n + d, 3)!;
    const w = arena.alloc(n * d);
    const x = arena.alloc(n);
    const out = arena.alloc(d);
    const specials = [NaN, Infinity, -Infinity, -0, 0, 1e-45, -1e-40, 3.4e38, -3.4e38, 1];
    for (let i = 0; i < w.length; i++) w[i] = specials[(i * 7) % specials.length];
    for (let j = 0; j < n; j++) x[j] = specials[(j * 3 + 1) % specials.length];
    matmulF32(out, x, w, n, d);
    const ref = new Float32Array(d);
    matmulF32(ref, Float32Array.from(x), Float32Array.from(w), n, d);
    for (let i = 0; i < d; i++) expect(Object.is(out[i], ref[i]) || (Number.isNaN(out[i]) && Number.isNaN(ref[i])), `row ${i}: ${out[i]} vs ${ref[i]}`).toBe(true);
  });

  it('arrays outside an arena stay on the JS path', () => {
    expect(wasmMatmul(new Float32Array(2), new Float32Array(2), new Float32Array(4))).toBeUndefined();
  });
});
