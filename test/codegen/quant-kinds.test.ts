/**
 * The C engine names the quantization kinds only through quantKindsC: its header check, comments,
 * kernel table and dispatch are rendered from the rows of quant/kinds.ts, so a new row reaches them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quantKindsC, renderEngine } from '../../src/codegen/render.js';
import { loadProfile } from '../../src/profile/load.js';
import { QUANT_KINDS, type QuantKindInfo } from '../../src/quant/kinds.js';
import { TEMPLATES } from '../../src/templates.js';

const q2: QuantKindInfo = {
  name: 'q2',
  code: 3,
  qmax: 1,
  layout: { values: 'group', bits: 2, scales: 'per-group' },
  activation: 'q8',
  rowBytes: (cols) => Math.ceil(cols / 4),
  rowBytesDoc: 'ceil(padded / 4)',
  label: () => 'Q2',
  kernel: 'matmul_q2',
  packing: 'four 2-bit values a byte',
  guard: { speedup: 4, cost: 'made up for this test' },
};

describe('quantization kinds in the C engine', () => {
  it('the checks, kernel table and dispatch come from the rows', () => {
    const c = quantKindsC();
    expect(c.last).toBe('RT_Q4');
    expect(c.codes).toBe('0 (f32), 1 (q8) or 2 (q4)');
    expect(c.kernels.map((k) => `${k.type} ${k.name} ${k.simd}`)).toEqual(['MatmulF32 matmul_f32 RT_SIMD_MATMUL_F32', 'MatmulQ8 matmul_q8 RT_SIMD_MATMUL_Q8', 'MatmulQ8 matmul_q4 RT_SIMD_MATMUL_Q4']);
    expect(c.dispatch).toEqual(['if (w->kind == RT_Q8) matmul_q8', 'else matmul_q4']);
    expect(c.rowBytes).toBe('m->kind == RT_Q4 ? (n + 1) / 2 : n');
  });

  it('a new row reaches every place: code check, dispatch, row bytes, value access, comments', () => {
    const c = quantKindsC([...QUANT_KINDS, q2]);
    expect(c.last).toBe('RT_Q2');
    expect(c.codes).toBe('0 (f32), 1 (q8), 2 (q4) or 3 (q2)');
    expect(c.dispatch).toEqual(['if (w->kind == RT_Q8) matmul_q8', 'else if (w->kind == RT_Q4) matmul_q4', 'else matmul_q2']);
    expect(c.kernels.at(-1)).toEqual({ name: 'matmul_q2', simd: 'RT_SIMD_MATMUL_Q2', type: 'MatmulQ8' });
    expect(c.rowBytes).toBe('m->kind == RT_Q4 ? (n + 1) / 2 : m->kind == RT_Q2 ? (n + 3) / 4 : n');
    expect(c.valueAt).toBe('kind == RT_Q4 ? q4_at(row, j) : kind == RT_Q2 ? q2_at(row, j) : row[j]');
    expect(c.dataBytes).toContain('kind == RT_Q2 ? (double)rows * (double)(((cols + group_size - 1) / group_size * group_size + 3) / 4)');
    expect(c.grouped.and).toBe('q8, q4 and q2');
    expect(c.rowDoc).toContain('RT_Q2: (rows, ceil(padded / 4)), four 2-bit values a byte');
  });

  it('codes are the rows\' positions, so `<= last` is the whole check', () => {
    expect(QUANT_KINDS.map((k) => k.code)).toEqual(QUANT_KINDS.map((_, i) => i));
  });

  it('the engine partials name no integer kind by hand (kernels and q4_at, the q4 unpacker, are per kind)', () => {
    const dir = join(TEMPLATES, 'engine');
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8').replace(/--quant q8/g, '').replace(/q4_at\(/g, '');
      expect(text, f).not.toMatch(/RT_Q\d|\bq[48]\b|matmul_q\d/);
    }
  });

  it('the rendered engine has each row\'s kernel and code', () => {
    const c = renderEngine(loadProfile('host'));
    for (const k of QUANT_KINDS) {
      expect(c).toContain(`#define RT_${k.name.toUpperCase()} ${k.code}`);
      expect(c).toContain(`static ${k.activation === 'f32' ? 'MatmulF32' : 'MatmulQ8'} ${k.kernel} = RT_SIMD_${k.kernel.toUpperCase()};`);
    }
  });
});
