import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel } from '../../src/model/convert.js';
import { ByteOrderError, ModelFormatError } from '../../src/errors.js';
import { BinaryFile } from '../../src/model/file.js';
import { readNativeHeader } from '../../src/model/native.js';
import { openModel } from '../../src/model/open.js';
import { loadWeights } from '../../src/model/source.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { quantizeMatrix } from '../../src/quant/kinds.js';
import { loadProfile } from '../../src/profile/load.js';
import { golden, model, ONCE, tempDir } from '../helpers/fixtures.js';
import { generateText } from '../helpers/run.js';
import { HEADER, RtrFile } from '../helpers/rtr.js';
import { work } from '../helpers/work.js';
import { writeHfFolder } from '../helpers/safetensors-writer.js';

const dir = tempDir();
const vocab = readTokenizer(model('tok512.bin'), 512);

function convert(target: string, quant: 'f32' | 'q8' | 'q4', name: string, src = 'stories260K.bin'): string {
  const path = join(dir, name);
  const m = openModel(model(src));
  const p = loadProfile(target);
  convertModel(m, vocab, { id: p.id, byteOrder: p.cpu.byteOrder, alignment: p.alignment }, quant, 32, path);
  m.close();
  return path;
}

describe('target-native model file', () => {
  it('big-endian and little-endian files hold the same tensors, aligned for the target', () => {
    const be = convert('xbox360-xenon', 'f32', 'be.rtr');
    const le = convert('host', 'f32', 'le.rtr');
    const hb = readNativeHeader(BinaryFile.open(be, 'model'));
    const hl = readNativeHeader(BinaryFile.open(le, 'model'));
    expect(hb.order).toBe('big');
    expect(hl.order).toBe('little');
    expect(hb.targetId).toBe('xbox360-xenon');
    for (const e of hb.entries) expect(e.dataOffset % 128).toBe(0);
    for (const e of hl.entries) expect(e.dataOffset % 16).toBe(0);
    // the bytes really are swapped
    const e = hb.entries.find((x) => x.name === 'wq')!;
    const a = readFileSync(be).subarray(e.dataOffset, e.dataOffset + 4);
    const el = hl.entries.find((x) => x.name === 'wq')!;
    const b = readFileSync(le).subarray(el.dataOffset, el.dataOffset + 4);
    expect([...a]).toEqual([...b].reverse());
    const wa = loadWeights(openModel(be));
    const wb = loadWeights(openModel(model('stories260K.bin')));
    expect(Buffer.from(wa.rmsFinal.buffer).equals(Buffer.from(wb.rmsFinal.buffer))).toBe(true);
    const x = wa.layers[4].w2;
    const y = wb.layers[4].w2;
    expect(x.kind === 'f32' && y.kind === 'f32' && Buffer.from(x.data.buffer).equals(Buffer.from(y.data.buffer))).toBe(true);
  });

  it('the reference runs a converted file to the golden (f32, either byte order)', () => {
    for (const p of [join(dir, 'be.rtr'), join(dir, 'le.rtr')]) {
      const out = generateText({ model: p, temperature: 0, steps: 256, prompt: ONCE });
      expect(out.equals(golden('stories260K_once-upon-a-time_t0_n256.txt'))).toBe(true);
    }
  });

  it('q8 handles rows that are not a multiple of the group size (hidden_dim 172)', () => {
    const p = convert('host', 'q8', 'q8.rtr');
    const h = readNativeHeader(BinaryFile.open(p, 'model'));
    const w2 = h.entries.find((e) => e.name === 'w2')!;
    expect(w2.cols).toBe(172);
    expect(w2.scaleBytes).toBe(64 * Math.ceil(172 / 32) * 4);
    // each row padded with zeros to whole groups: 192 bytes, so every row and group starts on 16 bytes
    expect(w2.dataBytes).toBe(64 * 192);
    expect(w2.dataOffset % 16).toBe(0);
    const bytes = readFileSync(p).subarray(w2.dataOffset, w2.dataOffset + w2.dataBytes);
    for (let r = 0; r < 64; r++) expect(bytes.subarray(r * 192 + 172, (r + 1) * 192).every((v) => v === 0)).toBe(true);
    const w = loadWeights(openModel(p)).layers[0].w2;
    const f = loadWeights(openModel(model('stories260K.bin'))).layers[0].w2;
    if (w.kind !== 'q8' || f.kind !== 'f32') throw new Error('kinds');
    // the short last group (172 = 5*32 + 12) is quantized on its own scale
    let maxErr = 0;
    for (let i = 160; i < 172; i++) maxErr = Math.max(maxErr, Math.abs(w.q[i] * w.s[5] - f.data[i]));
    expect(maxErr).toBeLessThanOrEqual(w.s[5] / 2 + 1e-7);
    const text = generateText({ model: p, temperature: 0, steps: 64, prompt: ONCE }).toString();
    expect(text.startsWith('Once upon a time, there was a little girl named Lily.')).toBe(true);
  });

  it('q4 packs two values a byte (rows of odd nibble count included) and reads back exactly, in either byte order', () => {
    const f = loadWeights(openModel(model('stories260K.bin'))).layers[0].w2;
    if (f.kind !== 'f32') throw new Error('kinds');
    const expected = quantizeMatrix(f, 'q4', 32);
    for (const [target, name] of [['host', 'q4le.rtr'], ['powerbook-g4', 'q4be.rtr']] as const) {
      const p = convert(target, 'q4', name);
      const h = readNativeHeader(BinaryFile.open(p, 'model'));
      const w2 = h.entries.find((e) => e.name === 'w2')!;
      expect(w2.kind).toBe('q4');
      expect(w2.dataBytes).toBe(64 * 96); // 172 values padded to 192 (whole groups): 96 bytes a row
      const w = loadWeights(openModel(p)).layers[0].w2;
      if (w.kind !== 'q4') throw new Error('kinds');
      expect(Buffer.from(w.q.buffer).equals(Buffer.from(expected.q.buffer))).toBe(true);
      expect(Buffer.from(w.s.buffer).equals(Buffer.from(expected.s.buffer))).toBe(true);
      expect(Math.min(...w.q)).toBeGreaterThanOrEqual(-7);
      expect(Math.max(...w.q)).toBeLessThanOrEqual(7);
    }
    expect(statSync(join(dir, 'q4le.rtr')).size).toBeLessThan(statSync(join(dir, 'q8.rtr')).size * 0.65);
  });

  it('an already-Q8 source with another group size is requantized; the same size passes through', () => {
    const p = convert('host', 'q8', 'syn-q8.rtr', 'synthetic_v2_q8.bin');
    expect(readNativeHeader(BinaryFile.open(p, 'model')).groupSize).toBe(32);
  });

  it('refuses the other byte order by name, and truncated files', () => {
    const be = join(dir, 'be.rtr');
    expect(() => readNativeHeader(BinaryFile.open(be, 'model'), { order: 'little', targetId: 'win98-pentium2' })).toThrow(ByteOrderError);
    expect(() => readNativeHeader(BinaryFile.open(be, 'model'), { order: 'little', targetId: 'win98-pentium2' })).toThrow(/be\.rtr was built for xbox360-xenon \(big-endian\), not for win98-pentium2/);
    const cut = join(dir, 'cut.rtr');
    writeFileSync(cut, readFileSync(be).subarray(0, 100000));
    expect(() => openModel(cut)).toThrow(ModelFormatError);
    expect(() => openModel(cut)).toThrow(/truncated or padded: header says \d+ bytes, file has 100000/);
  });

  it('the reader checks every table entry against the layout its header implies (issue 12)', () => {
    const q8 = readFileSync(convert('host', 'q8', 'hostile-q8.rtr'));
    const cases: [string, (f: RtrFile) => void, RegExp][] = [
      ['header group size 32 -> 4096', (f) => f.setU32(HEADER.groupSize, 4096), /the header's shape needs a file of \d+ bytes, not \d+/],
      ['an f32 vector relabelled q8', (f) => f.setU32(f.entry(f.find('rms_att'), 'kind'), 1), /tensor 1 \(rms_att\[0\]\): kind 1, expected 0 \(f32\)/],
      ['a tensor offset moved', (f) => f.setU32(f.entry(f.find('wk', 1), 'dataOffset'), 4096), /\(wk\[1\]\): dataOffset 4096, expected \d+/],
      ['a 32768 x 65536 claim in a small file', (f) => f.setU32(HEADER.dim, 32768).setU32(HEADER.seqLen, 65536), /needs a file of \d+ bytes|over the 2 GB|impossible model dimensions/],
      ['BOS beyond the vocabulary', (f) => f.setU32(HEADER.bos, 600), /header field bosId: 600 is not below the vocabulary of 512/],
    ];
    for (const [name, edit, message] of cases) {
      const f = new RtrFile(q8);
      edit(f);
      const path = join(dir, 'hostile.rtr');
      writeFileSync(path, f.buf);
      // refused from the header and table: CPU time (not wall-clock) and bytes read within the file's
      const w = work(() => expect(() => openModel(path), name).toThrow(message));
      expect(w.cpuMs, name).toBeLessThan(500);
      expect(w.readBytes, name).toBeLessThanOrEqual(f.buf.length);
    }
  });
});

describe('conversion in chunks of rows', () => {
  // chunkBytes 1: every matrix in chunks of one head's rows (Q/K of a Hugging Face folder are un-permuted per head)
  const both = (src: string, target: string, quant: 'f32' | 'q8' | 'q4', name: string) => {
    const m = openModel(src);
    const p = loadProfile(target);
    const t = { id: p.id, byteOrder: p.cpu.byteOrder, alignment: p.alignment };
    expect(m.readRows).toBeDefined();
    convertModel(m, m.vocab!, t, quant, 32, join(dir, `${name}-chunked.rtr`), 1);
    convertModel({ ...m, readRows: undefined }, m.vocab!, t, quant, 32, join(dir, `${name}-whole.rtr`));
    m.close();
    return [readFileSync(join(dir, `${name}-chunked.rtr`)), readFileSync(join(dir, `${name}-whole.rtr`))];
  };

  it.each([
    ['host', 'q8'],
    ['xbox360-xenon', 'q4'],
  ] as const)("writes the bytes of whole tensors: llama.cpp's Q4_K_M GGUF -> %s %s", (target, quant) => {
    const [chunked, whole] = both(model('gguf/l2-q4_k_m.gguf'), target, quant, `gguf-${quant}`);
    expect(chunked.equals(whole)).toBe(true);
  });

  it('writes the bytes of whole tensors: a sharded Hugging Face folder (Q and K permuted on disk) -> powerbook-g4 f32', () => {
    const gguf = openModel(model('gguf/l2-q8_0.gguf'));
    const hf = join(dir, 'hf-chunks');
    writeHfFolder(hf, gguf, { dtype: 'BF16', normDtype: 'F32', shards: 2 });
    gguf.close();
    const m = openModel(hf);
    const p = loadProfile('powerbook-g4');
    const t = { id: p.id, byteOrder: p.cpu.byteOrder, alignment: p.alignment };
    const tok = readTokenizer(model('tokenizer.bin'), 32000);
    convertModel(m, tok, t, 'f32', 32, join(dir, 'hf-chunked.rtr'), 1);
    convertModel({ ...m, readRows: undefined }, tok, t, 'f32', 32, join(dir, 'hf-whole.rtr'));
    m.close();
    expect(readFileSync(join(dir, 'hf-chunked.rtr')).equals(readFileSync(join(dir, 'hf-whole.rtr')))).toBe(true);
  });
});
