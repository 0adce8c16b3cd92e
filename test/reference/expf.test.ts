/**
 * retro's exp is correctly rounded on every float32, and the C the engine runs computes the TS
 * reference's bits: an exhaustive sweep in C on the host against exp in higher precision, the same
 * C built for x87 (precision control single, no excess-precision stores) hashing the same bits, and
 * TS against C on a large sample.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderExpf } from '../../src/codegen/render.js';
import { EXPF_EXCEPTIONS, bitsOf, expf, floatOf } from '../../src/reference/expf.js';
import { REPO, tempDir } from '../helpers/fixtures.js';
import { needI386, needTools } from '../helpers/tools.js';

const dir = tempDir('retro-expf-');
writeFileSync(join(dir, 'expf.c'), renderExpf());
copyFileSync(join(REPO, 'test/reference/expf-check.c'), join(dir, 'expf-check.c'));

function build(cc: string, out: string, flags: string[], libs: string[] = []): string {
  const exe = join(dir, out);
  execFileSync(cc, ['-O2', '-std=gnu99', '-Wall', '-Wextra', '-Werror', ...flags, '-o', exe, join(dir, 'expf-check.c'), ...libs]);
  return exe;
}

const X87 = ['-march=pentium2', '-mno-sse', '-fexcess-precision=fast', '-static'];
const summary = /checked (\d+) inputs, (\d+) failures, \d+ decided in quad precision, hash (0x[0-9a-f]{8})/;

/** Every 509th bit pattern that is not a NaN (JS quiets signalling NaNs), the edges of each branch, and the exceptions. */
function sample(): Uint32Array {
  const xs: number[] = [];
  for (let u = 0; u < 2 ** 32; u += 509) if ((u & 0x7fffffff) <= 0x7f800000) xs.push(u);
  for (const x of [0, -0, 2 ** -25, -(2 ** -25), 2 ** -24, 88.72283172607421875, 88.72283935546875, -104, -103.97207, -87.33654, -87.3365479, Infinity, -Infinity]) xs.push(bitsOf(x));
  for (const [x] of EXPF_EXCEPTIONS) xs.push(x);
  return Uint32Array.from(xs);
}

describe('retro expf', () => {
  let hostHash = '';

  it('is correctly rounded on all 2^32 float32 bit patterns (C sweep against exp in double and quad precision)', () => {
    const exe = build('gcc', 'check', ['-DRT_QUAD'], ['-lquadmath', '-lm']);
    const r = spawnSync(exe, ['sweep'], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const m = summary.exec(r.stdout);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('fail')), 'failures').toEqual([]);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBe(2 ** 32 - 2 ** 24 + 2); // every non-NaN pattern
    expect(Number(m![2])).toBe(0);
    expect(r.status).toBe(0);
    hostHash = m![3];
  }, 600_000);

  it('computes the same bits on x87 with single precision control and no excess-precision stores (all 2^32 inputs)', (ctx) => {
    needTools(ctx, 'i686-linux-gnu-gcc');
    // qemu emulates x87 in software: the sweep needs the host's own x87 unit
    needI386(ctx);
    expect(hostHash, 'the host sweep gave its hash').not.toBe('');
    const exe = build('i686-linux-gnu-gcc', 'check-x87', X87, ['-lm']);
    // An i386 binary runs natively on the x86-64 host: the host's own x87 unit.
    const r = spawnSync(exe, ['hash'], { encoding: 'utf8' });
    expect(summary.exec(r.stdout)?.[3], r.stdout + r.stderr).toBe(hostHash);
  }, 600_000);

  it('TS and C agree bit for bit on a sample of 8.4 million inputs (a million of them under qemu), on the host and on qemu-i386 -cpu pentium2', (ctx) => {
    const xs = sample();
    const ts = new Uint32Array(xs.length);
    for (let i = 0; i < xs.length; i++) ts[i] = bitsOf(expf(floatOf(xs[i])));
    const input = Buffer.from(xs.buffer);
    const host = build('gcc', 'map', []);
    expect(Buffer.from(execFileSync(host, ['map'], { input, maxBuffer: 1 << 26 })).equals(Buffer.from(ts.buffer))).toBe(true);
    needTools(ctx, 'i686-linux-gnu-gcc', 'qemu-i386');
    const x87 = build('i686-linux-gnu-gcc', 'map-x87', X87);
    const few = Buffer.from(xs.buffer, 0, 4 * 2 ** 20);
    const out = execFileSync('qemu-i386', ['-cpu', 'pentium2', x87, 'map'], { input: few, maxBuffer: 1 << 26 });
    expect(Buffer.from(out).equals(Buffer.from(ts.buffer, 0, few.length))).toBe(true);
  }, 600_000);

  it('keeps its exception list sorted by x, and handles the special values', () => {
    for (let i = 1; i < EXPF_EXCEPTIONS.length; i++) expect(floatOf(EXPF_EXCEPTIONS[i][0])).toBeGreaterThan(floatOf(EXPF_EXCEPTIONS[i - 1][0]));
    expect(expf(0)).toBe(1);
    expect(expf(-Infinity)).toBe(0);
    expect(expf(Infinity)).toBe(Infinity);
    expect(expf(NaN)).toBeNaN();
    expect(expf(-1)).toBe(Math.fround(Math.exp(-1)));
  });
});
