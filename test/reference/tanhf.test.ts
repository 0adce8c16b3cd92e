/**
 * retro's tanh is correctly rounded on every float32, and the C the engine will run computes the TS
 * reference's bits, for tanh and for GELU built on it: an exhaustive sweep in C on the host against
 * tanh in higher precision (double, and quad where double is too close to a midpoint; the small and
 * large inputs by the bounds explained in tanhf-check.c), the same C built for the Pentium II (x87,
 * precision control single) hashing the same bits over all 2^32 inputs, and TS against C on samples
 * on every target's builds (host, G4, Xbox 360 stand-ins, Pentium II ELF and .exe), compiled with the
 * profiles' own compilers and flags.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ejs from 'ejs';
import { describe, expect, it } from 'vitest';
import { renderTanhf } from '../../src/codegen/render.js';
import { loadProfile } from '../../src/profile/load.js';
import { bitsOf, floatOf } from '../../src/reference/expf.js';
import { TANHF_CONSTANTS, TANHF_EXCEPTIONS, gelu_tanh, tanhf } from '../../src/reference/tanhf.js';
import type { CrossBuild } from '../../src/profile/schema.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { wineEnv } from '../helpers/e2e.js';
import { REPO, tempDir } from '../helpers/fixtures.js';
import { needI386, needTools } from '../helpers/tools.js';

const run = promisify(execFile);
const dir = tempDir('retro-tanhf-');
writeFileSync(join(dir, 'tanhf.c'), renderTanhf());
writeFileSync(join(dir, 'fpu.c'), ejs.render(readFileSync(join(REPO, 'templates/fpu/x87.c.ejs'), 'utf8')));
writeFileSync(join(dir, 'tanhf-check.c'), readFileSync(join(REPO, 'test/reference/tanhf-check.c')));

const POS_INF = 0x7f800000;
/** The sweep runs as this many processes, each on every P-th positive input (and its negation). */
const P = Math.max(2, availableParallelism());
const summary = /checked (\d+) inputs, (\d+) failures, \d+ decided in quad precision, (\d+) undecided by the rounding test, largest error 2\^(-[\d.]+) at \S+, hash (0x[0-9a-f]{8})/;

function build(cc: string, out: string, flags: string[], libs: string[] = []): string {
  const exe = join(dir, out);
  execFileSync(cc, [...flags, '-o', exe, join(dir, 'tanhf-check.c'), ...libs]);
  return exe;
}

/** hash (or sweep) output of every part i of P, run side by side. */
async function parts(exe: string, mode: 'sweep' | 'hash'): Promise<string[]> {
  return Promise.all(Array.from({ length: P }, (_, i) => run(exe, [mode, String(i), String(P)], { maxBuffer: 1 << 24 }).then((r) => r.stdout)));
}

const p2 = loadProfile('win98-pentium2').cross.find((b) => b.id === 'linux-i686-p2')!;

/** Every 4093rd positive pattern and its negation, every 509th between TINY and BIG (the computed path), the edges, the exceptions. */
function tanhSample(): Uint32Array {
  const xs: number[] = [];
  const both = (u: number) => xs.push(u, (u | 0x80000000) >>> 0);
  for (let u = 0; u <= POS_INF; u += 4093) both(u);
  for (let u = TANHF_CONSTANTS.TINY; u <= TANHF_CONSTANTS.BIG; u += 509) both(u);
  for (const edge of [TANHF_CONSTANTS.TINY, TANHF_CONSTANTS.BIG, 0x3f800000, 1]) for (let d = -3; d <= 3; d++) both(edge + d);
  for (const [a] of TANHF_EXCEPTIONS) both(a);
  return Uint32Array.from(xs);
}

/** Every 4093rd pattern but NaNs, every 2039th below 16 in magnitude, the edges where x^3 overflows. */
function geluSample(): Uint32Array {
  const xs: number[] = [];
  const both = (u: number) => xs.push(u, (u | 0x80000000) >>> 0);
  for (let u = 0; u <= POS_INF; u += 4093) both(u);
  for (let u = 0; u < bitsOf(16); u += 2039) both(u);
  for (const x of [Infinity, 6.98e12, 6.99e12, 1e13, 3.4e38, 1e-20, 2 ** -126, 2 ** -149]) both(bitsOf(x));
  return Uint32Array.from(xs);
}

/** Output bits with every NaN as one pattern (x86, PowerPC and JS make different NaNs of -inf * 0). */
function canonical(bits: Uint32Array): Buffer {
  const out = Uint32Array.from(bits, (b) => ((b & 0x7fffffff) > POS_INF ? 0x7fc00000 : b));
  return Buffer.from(out.buffer);
}

function reference(fn: (x: number) => number, xs: Uint32Array): Buffer {
  return canonical(Uint32Array.from(xs, (u) => bitsOf(fn(floatOf(u)))));
}

describe('retro tanhf', () => {
  let hostHashes: string[] = [];

  it('is correctly rounded on all 2^32 float32 bit patterns (C sweep against tanh in double and quad precision)', async () => {
    const exe = build('gcc', 'check', ['-O2', '-std=gnu99', '-Wall', '-Wextra', '-Werror', '-Wno-unused-function', '-DRT_QUAD'], ['-lquadmath', '-lm']);
    const outs = await parts(exe, 'sweep');
    const lines = outs.flatMap((o) => o.split('\n'));
    expect(lines.filter((l) => l.startsWith('fail')), 'failures').toEqual([]);
    const ms = outs.map((o) => summary.exec(o));
    for (const [i, m] of ms.entries()) expect(m, outs[i]).not.toBeNull();
    expect(ms.reduce((n, m) => n + Number(m![1]), 0)).toBe(2 ** 32 - 2 ** 24 + 2); // every non-NaN pattern
    expect(ms.map((m) => Number(m![2]))).toEqual(ms.map(() => 0));
    // the rounding test's bound holds: z0 + z1 is within EPS (2^-44, relative) of tanh everywhere
    for (const m of ms) expect(Number(m![4])).toBeLessThan(-44);
    // the exception list is exactly the undecided inputs where z0 + z1 rounds the wrong way
    const pairs = lines.flatMap((l) => {
      const m = /^exception (0x\w+) (0x\w+)/.exec(l);
      return m ? [[Number(m[1]), Number(m[2])]] : [];
    });
    pairs.sort((a, b) => a[0] - b[0]);
    expect(pairs).toEqual(TANHF_EXCEPTIONS.map(([a, y]) => [a, y]));
    hostHashes = ms.map((m) => m![5]);
  }, 1_800_000);

  it('computes the same bits on x87 with single precision control, built as the Pentium II ELF is (all 2^32 inputs)', async (ctx) => {
    needTools(ctx, p2.compiler);
    needI386(ctx);
    expect(hostHashes.length, 'the host sweep ran first and gave its hashes').toBeGreaterThan(0);
    const exe = build(p2.compiler, 'check-x87', p2.flags, p2.libs);
    // An i386 binary runs natively on the x86-64 host: the host's own x87 unit.
    const outs = await parts(exe, 'hash');
    expect(outs.map((o) => /hash (0x[0-9a-f]{8})/.exec(o)?.[1])).toEqual(hostHashes);
  }, 1_800_000);

  it('keeps its exception list sorted, and handles the special values', () => {
    for (let i = 1; i < TANHF_EXCEPTIONS.length; i++) expect(floatOf(TANHF_EXCEPTIONS[i][0])).toBeGreaterThan(floatOf(TANHF_EXCEPTIONS[i - 1][0]));
    expect(Object.is(tanhf(-0), -0)).toBe(true);
    expect(tanhf(Infinity)).toBe(1);
    expect(tanhf(-Infinity)).toBe(-1);
    expect(tanhf(NaN)).toBeNaN();
    expect(tanhf(2 ** -149)).toBe(2 ** -149);
    for (const x of [0.5, -1, 2, 0.001, 9]) expect(tanhf(Math.fround(x))).toBe(Math.fround(Math.tanh(Math.fround(x))));
  });

  it('gives GELU (tanh approximation) within float rounding of the formula in double, and its limits', () => {
    for (let x = -12; x <= 12; x += 0.01) {
      const xf = Math.fround(x);
      const exact = 0.5 * xf * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (xf + 0.044715 * xf ** 3)));
      // roundings of tanh and of 1 + tanh cost up to 2^-24 of 0.5|x| each; the rest is relative
      expect(Math.abs(gelu_tanh(xf) - exact)).toBeLessThanOrEqual(Math.abs(xf) * 2 ** -22 + Math.abs(exact) * 2 ** -21);
    }
    expect(gelu_tanh(1e30)).toBe(Math.fround(1e30));
    expect(Object.is(gelu_tanh(-1e30), -0)).toBe(true);
    expect(gelu_tanh(Infinity)).toBe(Infinity);
    expect(gelu_tanh(-Infinity)).toBeNaN();
  });
});

describe('TS and C agree bit for bit on tanh and GELU samples, on every target build', () => {
  const tanhIn = tanhSample();
  const geluIn = geluSample();
  writeFileSync(join(dir, 'tanh-in.bin'), Buffer.from(tanhIn.buffer));
  writeFileSync(join(dir, 'gelu-in.bin'), Buffer.from(geluIn.buffer));
  const wantTanh = reference(tanhf, tanhIn);
  const wantGelu = reference(gelu_tanh, geluIn);

  async function mapped(b: CrossBuild, exe: string, fn: 'tanh' | 'gelu'): Promise<Buffer> {
    const out = `${fn}-${b.id}.bin`;
    const r = await runBinary(b, exe, [fn, `${fn}-in.bin`, out], { cwd: dir, env: wineEnv() });
    expect(r.exitCode, r.stderr).toBe(0);
    const bytes = readFileSync(join(dir, out));
    return canonical(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
  }

  for (const target of ['host', 'powerbook-g4', 'xbox360-xenon', 'win98-pentium2']) {
    for (const b of loadProfile(target).cross) {
      it(`${target}: ${b.id} (${b.compiler} ${b.flags.join(' ')}), ${tanhIn.length} tanh and ${geluIn.length} GELU inputs`, async (ctx) => {
        needTools(ctx, b.compiler, ...(b.run?.emulator ? [b.run.emulator] : []));
        const exe = build(b.compiler, `check-${b.id}.${b.output.split('.').pop()}`, b.flags.filter((f) => !f.startsWith('-Wl,')), [...b.libs, '-lm']);
        expect((await mapped(b, exe, 'tanh')).equals(wantTanh)).toBe(true);
        expect((await mapped(b, exe, 'gelu')).equals(wantGelu)).toBe(true);
      }, 900_000);
    }
  }
});
