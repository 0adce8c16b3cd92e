import { describe, expect, it } from 'vitest';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { printableBytes, Tokenizer } from '../../src/reference/tokenizer.js';
import { model, ONCE } from '../helpers/fixtures.js';

const tok512 = new Tokenizer(readTokenizer(model('tok512.bin'), 512));
const tok32k = new Tokenizer(readTokenizer(model('tokenizer.bin'), 32000));
const utf8 = (s: string) => Buffer.from(s, 'utf8');

function decodeAll(t: Tokenizer, ids: number[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 1; i < ids.length; i++) parts.push(Buffer.from(t.decode(ids[i - 1], ids[i]), 'latin1'));
  return Buffer.concat(parts);
}

describe('encode as llama2.c', () => {
  it('"Once upon a time" with both tokenizers', () => {
    expect(tok32k.encode(utf8(ONCE), true, false)).toEqual([1, 9038, 2501, 263, 931]);
    expect(tok512.encode(utf8(ONCE), true, false)).toEqual([1, 403, 407, 261, 378]);
  });

  it('BOS/EOS flags', () => {
    expect(tok512.encode(utf8(ONCE), false, true)).toEqual([403, 407, 261, 378, 2]);
  });

  it('empty prompt is BOS alone (no dummy prefix)', () => {
    expect(tok512.encode(new Uint8Array(0), true, false)).toEqual([1]);
  });

  it('unknown code points fall back to byte tokens (id = byte + 3)', () => {
    const ids = tok512.encode(utf8('日'), true, false);
    // dummy-prefix space, then the three UTF-8 bytes of U+65E5 as byte tokens
    expect(ids.slice(2)).toEqual([0xe6 + 3, 0x97 + 3, 0xa5 + 3]);
  });

  it('a known multi-byte piece is one token in the 32000 vocab', () => {
    const ids = tok32k.encode(utf8('é'), false, false);
    expect(ids.length).toBeLessThanOrEqual(2);
    expect(ids.every((id) => id > 258)).toBe(true);
  });
});

describe('encode/decode round trips', () => {
  const cases = ['Once upon a time', 'héllo wörld, naïve café', '日本語のテキスト', 'emoji 🎉🚀 end', 'tabs\tand\nnewlines', 'bytes \x01\x02\x7f here', '  leading spaces', 'x'];
  for (const text of cases) {
    it(`round trip ${JSON.stringify(text)} with tok512 and tokenizer.bin`, () => {
      for (const t of [tok512, tok32k]) {
        const ids = t.encode(utf8(text), true, false);
        // decode strips the dummy-prefix space after BOS
        expect(decodeAll(t, ids).equals(utf8(text))).toBe(true);
      }
    });
  }
});

describe('decode and the printing rule', () => {
  it('<0xXX> pieces decode to their byte', () => {
    expect(tok512.decode(5, 0x0a + 3)).toBe('\n');
  });

  it('strips one leading space only after BOS', () => {
    const id = tok512.encode(utf8('Once'), false, false)[0];
    expect(tok512.vocab.pieces[id].startsWith(' ')).toBe(true);
    expect(tok512.decode(1, id).startsWith(' ')).toBe(false);
    expect(tok512.decode(5, id).startsWith(' ')).toBe(true);
  });

  it('a lone unprintable byte prints nothing; printable and whitespace bytes print', () => {
    expect(printableBytes('\x01').length).toBe(0);
    expect(printableBytes('\xe6').length).toBe(0);
    expect(Buffer.from(printableBytes('\n')).toString()).toBe('\n');
    expect(Buffer.from(printableBytes('a')).toString()).toBe('a');
    expect(Buffer.from(printableBytes(' cat')).toString()).toBe(' cat');
  });
});
