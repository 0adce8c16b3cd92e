/**
 * Source files over 2 GB, and over 4 GB: a sparse GGUF whose matrices are holes except rows planted
 * past 2^31 and 2^32 bytes. Reads there return the planted rows (64-bit offsets on the host), and a
 * 32-bit target, whose model.rtr must stay under 2 GB, is refused with the quantization that fits.
 */
import { closeSync, existsSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlan } from '../../src/core/plan.js';
import { BinaryFile } from '../../src/model/file.js';
import { readGgufHeader } from '../../src/model/gguf.js';
import { openModel } from '../../src/model/open.js';
import { retro } from '../helpers/cli.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { llamaGguf, randomF32, vocabKvs } from '../helpers/gguf-writer.js';

// ffn_gate, ffn_down and ffn_up are 2 GB each as F32: down starts past 2^31 bytes, up past 2^32
const SHAPE = { dim: 2048, hiddenDim: 262144, nLayers: 1, nHeads: 32, nKvHeads: 32, vocabSize: 32000, headSize: 64, contextLength: 256 };
const ROWS = 64;

let dir: string;
let file: string;
const planted: Record<string, { row0: number; at: number; values: Float32Array }> = {};

beforeAll(() => {
  dir = tempDir('retro-large-');
  file = join(dir, 'sparse.gguf');
  llamaGguf(file, SHAPE, { vocab: vocabKvs(model('gguf/l2-q8_0.gguf')), holes: true });
  const bf = BinaryFile.open(file, 'model');
  const { tensors, dataStart } = readGgufHeader(bf);
  bf.close();
  const fd = openSync(file, 'r+');
  for (const [name, tensor, row0] of [
    ['w2', 'blk.0.ffn_down.weight', ROWS],
    ['w3', 'blk.0.ffn_up.weight', SHAPE.hiddenDim - ROWS],
  ] as const) {
    const cols = tensors.get(tensor)!.dims[0];
    const values = randomF32(ROWS * cols, row0 + 7, 1);
    const at = dataStart + tensors.get(tensor)!.offset + row0 * cols * 4;
    writeSync(fd, values, 0, values.byteLength, at);
    planted[name] = { row0, at, values };
  }
  closeSync(fd);
});

// a 6.5 GB file to anything that copies it whole
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a source file over 4 GB, mostly holes', () => {
  it('reads rows past 2^31 and 2^32 bytes as they were written', () => {
    expect(statSync(file).size).toBeGreaterThan(2 ** 32 + 2 ** 31);
    expect(planted.w2.at).toBeGreaterThan(2 ** 31);
    expect(planted.w3.at).toBeGreaterThan(2 ** 32);
    const src = openModel(file);
    expect(src.config).toMatchObject({ dim: 2048, hiddenDim: 262144 });
    for (const name of ['w2', 'w3'] as const) {
      const { row0, values } = planted[name];
      const m = src.readRows!(name, 0, row0, ROWS);
      expect(m.kind === 'f32' && Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).equals(Buffer.from(values.buffer))).toBe(true);
      // the rows before are still holes
      const before = src.readRows!(name, 0, row0 - ROWS, ROWS);
      expect(before.kind === 'f32' && before.data.every((v) => v === 0)).toBe(true);
    }
    src.close();
  });

  it('a 32-bit target: plan says which kinds make model.rtr too big, and build refuses f32 naming the kind that fits, writing nothing', async () => {
    const plan = runPlan({ target: 'win98-pentium2', model: file, groupSize: 32 });
    expect(plan.options.find((o) => o.quant === 'f32')!.why).toMatch(/over the 2 GB a 32-bit machine can seek/);
    expect(plan.options.find((o) => o.quant === 'q8')!.fileBytes).toBeLessThan(2 ** 31);
    const out = join(dir, 'out');
    const r = await retro(['build', '--target', 'win98-pentium2', '-m', file, '--quant', 'f32', '--no-compile', '-o', out]);
    expect(r.code).toBe(1);
    const last = r.stderr.trim().split('\n').pop()!;
    expect(last).toMatch(/^retro: .*sparse\.gguf: the converted model would be \d+ bytes as f32, over the 2 GB a 32-bit target can seek \(fix: quantize with --quant q8 \(\d+ bytes\)/);
    expect(existsSync(join(out, 'model.rtr'))).toBe(false);
  }, 60_000);
});
