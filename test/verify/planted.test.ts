/** Bugs planted in a generated engine or its model file must make verify fail; the untouched bundle passes. */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { runVerify } from '../../src/core/verify.js';
import { BinaryFile } from '../../src/model/file.js';
import { readNativeHeader } from '../../src/model/native.js';
import { loadProfile } from '../../src/profile/load.js';
import { compile } from '../../src/toolchain/tools.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { haveTools } from '../helpers/tools.js';
import { verifyRequest } from '../helpers/verify.js';

const dir = tempDir('retro-planted-');
const clean = join(dir, 'clean');
const host = loadProfile('host');

beforeAll(async () => {
  if (!haveTools('gcc')) return;
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
  it('the untouched bundle passes (control)', async () => {
    if (!haveTools('gcc')) return;
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
    it(name, async () => {
      if (!haveTools('gcc')) return;
      const r = await verdict(await plant(name.replace(/\W+/g, '-'), patch));
      expect(r.pass).toBe(false);
      expect(r.runs.every((x) => !x.result.pass)).toBe(true);
    });
  }
});

describe('a bug planted in a SIMD kernel fails the SIMD runs and only them', () => {
  // synthetic_v0: dim 128 is four groups of 32, so rows take the four-row vec_msum AltiVec path.
  it('AltiVec q8: the second 16 columns of a step dropped for one row of four', async () => {
    if (!haveTools('powerpc-linux-gnu-gcc', 'qemu-ppc')) return;
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
