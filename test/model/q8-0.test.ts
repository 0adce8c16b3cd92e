/**
 * A Q8_0 GGUF converted to q8 with groups of 32 keeps llama.cpp's blocks: every int8 value as it
 * is, every f16 scale as the float32 it equals exactly. Read from the GGUF's own bytes (split
 * here, not by retro's reader) and from model.rtr's bytes in the target's byte order.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel } from '../../src/model/convert.js';
import { f16ToF32 } from '../../src/model/gguf.js';
import { openModel } from '../../src/model/open.js';
import { loadProfile } from '../../src/profile/load.js';
import { splitGguf } from '../helpers/gguf-edit.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { RtrFile } from '../helpers/rtr.js';

const GGML_Q8_0 = 8;
const RTR_NAME: Record<string, string> = { token_embd: 'token_embedding', output: 'wcls', attn_q: 'wq', attn_k: 'wk', attn_v: 'wv', attn_output: 'wo', ffn_gate: 'w1', ffn_up: 'w3', ffn_down: 'w2' };

describe("llama.cpp's Q8_0 blocks stored as they are", () => {
  const file = model('gguf/l2-q8_0.gguf');
  const gguf = splitGguf(readFileSync(file));
  const q8 = gguf.tensors.filter((t) => t.type === GGML_Q8_0);

  it.each(['host', 'powerbook-g4'])('%s: model.rtr values and scales equal the GGUF blocks', (target) => {
    const p = loadProfile(target);
    const src = openModel(file);
    const out = join(tempDir(), 'model.rtr');
    convertModel(src, src.vocab!, { id: p.id, byteOrder: p.cpu.byteOrder, alignment: p.alignment }, 'q8', 32, out);
    src.close();
    const rtr = new RtrFile(readFileSync(out));
    expect(q8.length).toBe(16); // token_embd, output and 7 matrices in each of 2 layers
    for (const t of q8) {
      const [, layer, base] = /^(?:blk\.(\d+)\.)?(\w+)\.weight$/.exec(t.name.toString())!;
      const i = rtr.find(RTR_NAME[base], Number(layer ?? 0));
      const cols = t.dims[0];
      expect(cols % 32).toBe(0); // no padding: the rows are whole blocks
      const blocks = t.dims.reduce((a, b) => a * b, 1) / 32;
      const data = rtr.u32(rtr.entry(i, 'dataOffset'));
      const scales = rtr.u32(rtr.entry(i, 'scaleOffset'));
      expect(rtr.u32(rtr.entry(i, 'dataBytes'))).toBe(blocks * 32);
      for (let b = 0; b < blocks; b++) {
        const block = gguf.data.subarray(t.offset + b * 34, t.offset + b * 34 + 34);
        const scale = rtr.le ? rtr.buf.readFloatLE(scales + b * 4) : rtr.buf.readFloatBE(scales + b * 4);
        if (scale !== f16ToF32(block.readUInt16LE(0)) || !rtr.buf.subarray(data + b * 32, data + b * 32 + 32).equals(block.subarray(2))) {
          throw new Error(`${t.name} block ${b}: model.rtr differs from the GGUF`);
        }
      }
    }
  });
});
