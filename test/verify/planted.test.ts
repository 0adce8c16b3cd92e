/** Bugs planted in a generated engine or its model file must make verify fail; the untouched bundle passes. */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { runVerify } from '../../src/core/verify.js';
import { renderEngine } from '../../src/codegen/render.js';
import { BinaryFile } from '../../src/model/file.js';
import { readNativeHeader, type NativeHeader } from '../../src/model/native.js';
import { loadProfile } from '../../src/profile/load.js';
import { compile } from '../../src/toolchain/tools.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { needTools, runnableBuilds, toolsProblem } from '../helpers/tools.js';
import { verifyRequest } from '../helpers/verify.js';

const dir = tempDir('retro-planted-');
const clean = join(dir, 'clean');
const host = loadProfile('host');

beforeAll(async () => {
  // each test skips (or in CI fails) with the reason
  if (toolsProblem('gcc')) return;
  await runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: clean, compile: true });
});

async function plant(name: string, patch: (bundle: string) => void): Promise<string> {
  const b = join(dir, name);
  cpSync(clean, b, { recursive: true });
  patch(b);
  await compile(host.cross[0], join(b, 'retro.c'), join(b, 'retro'), b);
  return b;
}

function replaceIn(file: string, from: string, to: string): void {
  const s = readFileSync(file, 'utf8');
  expect(s.includes(from), `patch target "${from}" not found`).toBe(true);
  writeFileSync(file, s.replace(from, to));
}

async function verdict(bundle: string) {
  return runVerify(verifyRequest('host', { bundle, steps: 32 }));
}

describe('planted bugs fail verify', () => {
  it('the untouched bundle passes (control)', async (ctx) => {
    needTools(ctx, 'gcc');
    expect((await verdict(await plant('control', () => {}))).pass).toBe(true);
  });

  const bugs: [string, (b: string) => void][] = [
    ['a wrong RoPE frequency', (b) => replaceIn(join(b, 'retro.c'), 'int pair = (i % head_size) / 2;', 'int pair = (i % head_size) / 4;')],
    ['an off-by-one in the KV cache position', (b) => replaceIn(join(b, 'retro.c'), 'memcpy(s->key_cache + loff + (size_t)pos * kv_dim', 'memcpy(s->key_cache + loff + (size_t)(pos + 1) * kv_dim')],
    ['a wrong RMSNorm epsilon (1e-4 for 1e-5)', (b) => replaceIn(join(b, 'retro.c'), '    ss += eps;', '    ss += eps * 10.0f;')],
    ['attention without the 1/sqrt(head_size) scale', (b) => replaceIn(join(b, 'retro.c'), 'att[tt] = score / sqrt_hs;', 'att[tt] = score;')],
    [
      'one byte-swapped tensor in the model file',
      (b) => {
        const p = join(b, 'model.rtr');
        const h = readNativeHeader(BinaryFile.open(p, 'model'));
        const e = h.entries.find((x) => x.name === 'rms_ffn' && x.layer === 2)!;
        const buf = readFileSync(p);
        buf.subarray(e.dataOffset, e.dataOffset + e.dataBytes).swap32();
        writeFileSync(p, buf);
      },
    ],
  ];
  for (const [name, patch] of bugs) {
    it(name, async (ctx) => {
      needTools(ctx, 'gcc');
      const r = await verdict(await plant(name.replace(/\W+/g, '-'), patch));
      expect(r.pass).toBe(false);
      expect(r.runs.every((x) => !x.result.pass)).toBe(true);
    });
  }
});

describe('a bug planted in a SIMD kernel fails the SIMD runs and only them', () => {
  // synthetic_v0: dim 128 is four groups of 32, so rows take the four-row vec_msum AltiVec path.
  it('AltiVec q8: the second 16 columns of a step dropped for one row of four', async (ctx) => {
    needTools(ctx, 'powerpc-linux-gnu-gcc', 'qemu-ppc');
    const g4 = loadProfile('powerbook-g4');
    const b = join(dir, 'g4-simd-bug');
    await runBuild({ target: 'powerbook-g4', model: model('synthetic_v0.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 32, out: b, compile: true });
    replaceIn(join(b, 'retro.c'), '        a1 = vec_msum(x1, vec_xor(RT_U8V(r1 + j + 16), flip), vec_msum(x0, vec_xor(RT_U8V(r1 + j), flip), a1)); \\\n', '        a1 = vec_msum(x0, vec_xor(RT_U8V(r1 + j), flip), a1); \\\n');
    await compile(g4.cross[0], join(b, 'retro.c'), join(b, g4.cross[0].output), b);
    const r = await runVerify(verifyRequest('powerbook-g4', { bundle: b, steps: 24 }));
    expect(r.pass).toBe(false);
    for (const run of r.runs) expect(run.result.pass, run.build).toBe(run.build.endsWith('scalar)'));
  });
});

describe('on the Pentium II, q8 bugs far below the old 0.5 tolerance fail verify', () => {
  // Before x87 ran in single precision and exp was retro's own, win98-pentium2 allowed 0.5 on q8
  // logits (and 2% on their L2 norm); these bugs move the logits by far less, and now fail every
  // run (wine and qemu, MMX and scalar).
  const p2 = join(dir, 'p2-q8');
  const p2Profile = loadProfile('win98-pentium2');
  beforeAll(async () => {
    if (toolsProblem('i686-w64-mingw32-gcc', 'i686-linux-gnu-gcc', 'qemu-i386')) return;
    await runBuild({ target: 'win98-pentium2', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'q8', groupSize: 32, out: p2, compile: true });
  });

  type Entry = NativeHeader['entries'][number];
  // Row 403 of the classifier (shared with the embedding in stories260K) is " Once", in the engine's top 8 from the first position on.
  const bugs: [string, (buf: Buffer, entries: Entry[]) => void][] = [
    [
      "one weight of layer 0's w1 one quantization step off",
      (buf, entries) => {
        const at = entries.find((x) => x.name === 'w1' && x.layer === 0)!.dataOffset;
        buf.writeInt8(buf.readInt8(at) === 127 ? 126 : buf.readInt8(at) + 1, at);
      },
    ],
    [
      "one group scale of the classifier's row 403 one ulp off",
      (buf, entries) => {
        const e = entries.find((x) => x.name === 'token_embedding')!;
        const at = e.scaleOffset + 403 * Math.ceil(e.cols / e.groupSize) * 4;
        buf.writeUInt32LE(buf.readUInt32LE(at) + 1, at);
      },
    ],
  ];
  for (const [name, change] of bugs) {
    it(name, async (ctx) => {
      // the builds that can run here: the Win32 .exe needs a kernel that executes 32-bit x86 programs
      const builds = runnableBuilds(ctx, p2Profile);
      const b = join(dir, `p2-${name.replace(/\W+/g, '-')}`);
      cpSync(p2, b, { recursive: true });
      const p = join(b, 'model.rtr');
      const buf = readFileSync(p);
      change(buf, readNativeHeader(BinaryFile.open(p, 'model'), { order: 'little', targetId: 'win98-pentium2' }).entries);
      writeFileSync(p, buf);
      const r = await runVerify(verifyRequest('win98-pentium2', { bundle: b, steps: 32 }));
      // MMX and scalar, free-running and teacher-forced
      expect(r.runs).toHaveLength(builds.length * 4);
      for (const run of r.runs) {
        expect(run.result.pass, run.build).toBe(false);
        // the old tolerance would have passed it: every argmax the same, the errors far below it
        expect(run.result.worstLogitErr, run.build).toBeLessThan(0.5);
        expect(run.result.worstRelL2, run.build).toBeLessThan(0.02);
        expect(run.result.argmaxAgree, run.build).toBe(run.result.positions.length);
      }
    });
  }
});

describe('rows padded to whole groups: a ragged model never falls back to the scalar integer kernel', () => {
  // stories260K's hidden_dim is 172 (five groups of 32 and 12): stored padded to 192, w2 takes the
  // SIMD path like every other matrix. A bug planted in the scalar kernel then fails only the
  // scalar builds; were any matrix still on the scalar fallback, the SIMD builds would fail too.
  const scalarBug: Record<'q8' | 'q4', [string, string]> = {
    q8: ['for (j = start; j < end; j++) ival += (i32)x->q[j] * (i32)row[j];', 'for (j = start; j < end; j++) ival += (i32)x->q[j] * (i32)row[j] + (j == start);'],
    q4: ['for (j = start; j < end; j++) ival += (i32)x->q[j] * (i32)q4_at(row, j);', 'for (j = start; j < end; j++) ival += (i32)x->q[j] * (i32)q4_at(row, j) + (j == start);'],
  };
  const cases = [
    ['powerbook-g4', 'q8'],
    ['powerbook-g4', 'q4'],
    ['win98-pentium2', 'q8'],
    ['win98-pentium2', 'q4'],
  ] as const;
  for (const [target, quant] of cases) {
    it(`${target} ${quant}: the scalar builds fail, the SIMD builds pass`, async (ctx) => {
      const profile = loadProfile(target);
      const builds = runnableBuilds(ctx, profile);
      const b = join(dir, `ragged-${target}-${quant}`);
      await runBuild({ target, model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant, groupSize: 32, out: b, compile: false });
      for (const build of builds) {
        // a stand-in build (the Pentium II's Linux ELF) has its own platform shim, as retro build renders it
        const src = join(b, `${build.id}-retro.c`);
        writeFileSync(src, build.osFamily ? renderEngine(profile, { osFamily: build.osFamily }) : readFileSync(join(b, 'retro.c'), 'utf8'));
        replaceIn(src, ...scalarBug[quant]);
        await compile(build, src, join(b, build.output), b);
      }
      const r = await runVerify(verifyRequest(target, { bundle: b, steps: 12 }));
      expect(r.runs.length).toBeGreaterThan(0);
      for (const run of r.runs) expect(run.result.pass, run.build).toBe(!run.build.endsWith('scalar)'));
    });
  }
});
