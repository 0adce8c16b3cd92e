import { describe, expect, it } from 'vitest';
import { convertMatrix, quantizeMatrix, toF32 } from '../../src/quant/kinds.js';
import type { F32Matrix } from '../../src/reference/model.js';

const m: F32Matrix = { kind: 'f32', rows: 2, cols: 5, data: Float32Array.from([0.7, -1.4, 0.1, 0, 0.35, 0, 0, 0, 0, 0]) };

describe('quantization', () => {
  it('q8 and q4: scale max|w| / 127 or / 7 per group, ragged last group, zero rows stay zero', () => {
    const q8 = quantizeMatrix(m, 'q8', 4);
    expect(q8.s[0]).toBeCloseTo(1.4 / 127, 7);
    expect(Array.from(q8.q.subarray(0, 4))).toEqual([64, -127, 9, 0]);
    expect(q8.s[1]).toBeCloseTo(0.35 / 127, 7); // the group of one at the end of row 0
    expect(q8.q[4]).toBe(127);
    const q4 = quantizeMatrix(m, 'q4', 4);
    expect(q4.kind).toBe('q4');
    expect(q4.s[0]).toBeCloseTo(0.2, 6);
    expect(Array.from(q4.q.subarray(0, 5))).toEqual([4, -7, 1, 0, 7]); // 0.7/0.2 = 3.5 rounds away from zero
    expect(Array.from(q4.q.subarray(5))).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(q4.s.subarray(2))).toEqual([0, 0]);
  });

  it('converts between kinds and passes the same kind and group through untouched', () => {
    const q4 = quantizeMatrix(m, 'q4', 4);
    expect(convertMatrix(q4, 'q4', 4)).toBe(q4);
    expect(convertMatrix(q4, 'q4', 2)).not.toBe(q4);
    const back = toF32(q4);
    expect(back.data[1]).toBeCloseTo(-1.4, 5);
    expect(convertMatrix(back, 'q8', 4).kind).toBe('q8');
  });
});
