/** The C89 compile matrix: every OS family's engine through gcc -pedantic-errors, clang, tcc and the poison headers. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { renderEngine } from '../../src/codegen/render.js';
import { loadProfile } from '../../src/profile/load.js';
import { REPO, tempDir } from '../helpers/fixtures.js';
import { needTools } from '../helpers/tools.js';

const POISON = join(REPO, 'test/codegen/poison');
const STRICT = ['-std=c89', '-pedantic-errors', '-Wall', '-Wextra', '-Werror', '-Werror=implicit-function-declaration', `-I${POISON}`];
const dir = tempDir();

function source(target: string, family?: 'posix' | 'win32' | 'xenon'): string {
  const p = join(dir, `${target}-${family ?? 'native'}.c`);
  writeFileSync(p, renderEngine(loadProfile(target), { osFamily: family }));
  return p;
}

async function cc(cmd: string, args: string[]) {
  const r = await execa(cmd, args, { reject: false, all: true });
  return { code: r.exitCode, out: r.all ?? '' };
}

const posixSources = [
  ['host', undefined],
  ['powerbook-g4', undefined],
  ['xbox360-xenon', undefined],
  ['win98-pentium2', 'posix'],
] as const;

describe('C89 compile matrix', () => {
  it('gcc -std=c89 -pedantic-errors -Wall -Wextra -Werror with poison headers', async (ctx) => {
    needTools(ctx, 'gcc');
    for (const [t, fam] of posixSources) {
      const r = await cc('gcc', [...STRICT, '-O2', '-c', '-o', join(dir, `${t}.o`), source(t, fam)]);
      expect(r.out, t).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('clang -std=c89 -Werror', async (ctx) => {
    needTools(ctx, 'clang');
    for (const [t, fam] of posixSources) {
      const r = await cc('clang', ['-std=c89', '-pedantic', '-Wall', '-Wextra', '-Werror', `-I${POISON}`, '-c', '-o', join(dir, `${t}.clang.o`), source(t, fam)]);
      expect(r.out, t).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('tcc', async (ctx) => {
    needTools(ctx, 'tcc');
    for (const [t, fam] of posixSources) {
      const r = await cc('tcc', ['-Wall', '-Werror', `-I${POISON}`, '-c', '-o', join(dir, `${t}.tcc.o`), source(t, fam)]);
      expect(r.out, t).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('the Win32 engine under mingw with the same strict flags', async (ctx) => {
    needTools(ctx, 'i686-w64-mingw32-gcc');
    const r = await cc('i686-w64-mingw32-gcc', [...STRICT, '-march=pentium2', '-mno-sse', '-c', '-o', join(dir, 'w.o'), source('win98-pentium2')]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('the cross compilers with the strict flags', async (ctx) => {
    needTools(ctx, 'powerpc-linux-gnu-gcc', 'powerpc64-linux-gnu-gcc', 'i686-linux-gnu-gcc');
    for (const [cmd, t, extra] of [
      ['powerpc-linux-gnu-gcc', 'powerbook-g4', ['-mcpu=7450', '-maltivec']],
      ['powerpc64-linux-gnu-gcc', 'xbox360-xenon', ['-mcpu=970', '-maltivec']],
      ['i686-linux-gnu-gcc', 'win98-pentium2', ['-march=pentium2', '-mno-sse']],
    ] as const) {
      for (const scalar of [[], ['-DRT_SCALAR']]) {
        const r = await cc(cmd, [...STRICT, ...extra, ...scalar, '-c', '-o', join(dir, `${t}.x.o`), source(t, t === 'win98-pentium2' ? 'posix' : undefined)]);
        expect(r.out, `${cmd} ${scalar.join(' ')}`).toBe('');
        expect(r.code).toBe(0);
      }
    }
  });

  it('the SIMD kernels are in the SIMD builds and -DRT_SCALAR leaves them out', async (ctx) => {
    needTools(ctx, 'powerpc-linux-gnu-gcc', 'powerpc-linux-gnu-objdump', 'i686-linux-gnu-gcc', 'i686-linux-gnu-objdump');
    for (const [cmd, objdump, t, extra, insn] of [
      ['powerpc-linux-gnu-gcc', 'powerpc-linux-gnu-objdump', 'powerbook-g4', ['-mcpu=7450', '-maltivec'], /\bvmsummbm\b/],
      ['i686-linux-gnu-gcc', 'i686-linux-gnu-objdump', 'win98-pentium2', ['-march=pentium2', '-mmmx', '-mno-sse'], /\bpmaddwd\b/],
    ] as const) {
      for (const scalar of [false, true]) {
        const obj = join(dir, `${t}.k${scalar ? 's' : 'v'}.o`);
        expect((await cc(cmd, [...STRICT, ...extra, ...(scalar ? ['-DRT_SCALAR'] : []), '-c', '-o', obj, source(t, t === 'win98-pentium2' ? 'posix' : undefined)])).code).toBe(0);
        const dis = (await execa(objdump, ['-d', obj])).stdout;
        expect(insn.test(dis), `${t} ${scalar ? 'scalar' : 'simd'}`).toBe(!scalar);
        // Pentium II: not one SSE register anywhere.
        if (t === 'win98-pentium2') expect(dis).not.toMatch(/%xmm/);
      }
    }
  });

  it('the gate can fail: C99 constructs and stdint.h are rejected', async (ctx) => {
    needTools(ctx, 'gcc');
    const bad = join(dir, 'bad.c');
    writeFileSync(bad, '#include <stdint.h>\nint main(void) { return 0; }\n');
    expect((await cc('gcc', [...STRICT, '-c', '-o', join(dir, 'bad.o'), bad])).code).not.toBe(0);
    writeFileSync(bad, 'int main(void) { // comment\n  for (int i = 0; i < 2; i++) {}\n  return 0;\n}\n');
    expect((await cc('gcc', [...STRICT, '-c', '-o', join(dir, 'bad.o'), bad])).code).not.toBe(0);
  });
});
