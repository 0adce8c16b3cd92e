/**
 * Golden files of the generated sources per target. After an intended change:
 * RETRO_UPDATE_GOLDENS=1 npx vitest run test/codegen, then review the diff.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENGINE_FILE, renderBuildScripts, renderEngine, selectKernels } from '../../src/codegen/render.js';
import { MODEL_FILE } from '../../src/bundle/names.js';
import { loadProfile } from '../../src/profile/load.js';
import { REPO } from '../helpers/fixtures.js';

const GOLDEN = join(REPO, 'test/codegen/golden');
const TARGETS = ['host', 'powerbook-g4', 'win98-pentium2', 'xbox360-xenon'];

function compareGolden(target: string, name: string, content: string): void {
  const path = join(GOLDEN, target, name);
  if (process.env.RETRO_UPDATE_GOLDENS) {
    mkdirSync(join(GOLDEN, target), { recursive: true });
    writeFileSync(path, content);
  }
  expect(existsSync(path), `${path} missing: run with RETRO_UPDATE_GOLDENS=1`).toBe(true);
  expect(content).toBe(readFileSync(path, 'utf8'));
}

describe('generated sources match their golden files', () => {
  for (const id of TARGETS) {
    it(id, () => {
      const loaded = loadProfile(id);
      // The host profile's RAM is this computer's, read when it loads: the golden fixes it.
      const p = id === 'host' ? { ...loaded, memory: { ...loaded.memory, ramMb: 24576 } } : loaded;
      compareGolden(id, ENGINE_FILE, renderEngine(p));
      for (const f of renderBuildScripts(p, MODEL_FILE)) compareGolden(id, f.name, f.content);
    });
  }
});

describe('no C library transcendental at run time', () => {
  for (const id of TARGETS) {
    it(`${id}: the only libm call is sqrt (exp is rt_expf; RoPE's pow, cos and sin are tables)`, () => {
      const c = renderEngine(loadProfile(id)).replace(/\/\*[\s\S]*?\*\//g, '');
      const calls = new Set([...c.matchAll(/\b(exp|expf|log|logf|pow|powf|sin|sinf|cos|cosf|tanh|floor|floorf|ceil|fabs|fabsf|sqrt|sqrtf)\s*\(/g)].map((m) => m[1]));
      expect([...calls]).toEqual(['sqrt']);
      expect(c).toMatch(/x\[i\] = rt_expf\(d\);/);
      expect(c).toMatch(/float e = rt_expf\(-val\);/);
    });
  }
});

describe('the engine reads like run.c', () => {
  const c = renderEngine(loadProfile('powerbook-g4'));

  it('section banners in order', () => {
    const banners = ['/* model */', '/* blocks', '/* tokenizer', '/* sampler', '/* generation */', '/* main */'].map((b) => c.indexOf(b));
    expect(banners.every((i) => i > 0)).toBe(true);
    expect([...banners].sort((a, b) => a - b)).toEqual(banners);
  });

  it('build_x / free_x pairs', () => {
    for (const x of ['transformer', 'run_state', 'sampler', 'quantized_vector']) {
      expect(c).toContain(`build_${x}(`);
      expect(c).toContain(`free_${x}(`);
    }
  });

  it('every tensor field has its shape in a comment', () => {
    const struct = c.slice(c.indexOf('typedef struct {\n    float *token_embedding_table'), c.indexOf('} TransformerWeights;'));
    for (const line of struct.split('\n').slice(1)) if (line.trim()) expect(line).toMatch(/\/\* .*\(.*\).*\*\//);
  });

  it('kernels are files chosen by SIMD; scalar exists for every target', () => {
    expect(selectKernels(loadProfile('host'))).toEqual([{ simd: 'scalar', template: 'kernels/scalar.c.ejs' }]);
    expect(c).toContain('kernel: scalar');
  });

  it('platform shims per OS family', () => {
    expect(renderEngine(loadProfile('win98-pentium2'))).toContain('GetTickCount');
    expect(renderEngine(loadProfile('xbox360-xenon'))).toContain('mftb()');
    expect(c).not.toContain('GetTickCount');
  });

  it('Win98 scripts use CRLF and 8.3 names', () => {
    const scripts = renderBuildScripts(loadProfile('win98-pentium2'), MODEL_FILE);
    expect(scripts.map((s) => s.name)).toEqual(['bcc32.bat', 'watcom.bat', 'msvc6.bat']);
    for (const s of scripts) expect(s.content.split('\n').slice(0, -1).every((l) => l.endsWith('\r'))).toBe(true);
    expect(scripts[0].content).toContain('bcc32 -A -O2 -5 -ff- -w-8057 -eretro.exe retro.c');
  });
});
