/** Hard strings for tokenizers (issue 14): every case as UTF-8 bytes, some of them invalid on purpose. */
const utf8 = (s: string) => Buffer.from(s, 'utf8');

function tenKb(): Buffer {
  const parts = [
    'Once upon a time, in a land far away, there lived a little dog named Max. ',
    "He didn't like rain; he'd bark at it: WOOF!!! ",
    'Prices: 1234567 coins, 3.14159 apples, 2024-01-01.\r\n',
    'Café naïve résumé — Zoë, 東京タワー, 서울, Москва. ',
    '\tIndented\tline   with  spaces   \n\n',
    'Emoji: 🐶🐱 👨‍👩‍👧‍👦 🏳️‍🌈 ',
    'e\u0301 a\u0308 n\u0303 ',
  ];
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < 10240; i++) {
    const p = parts[i % parts.length];
    out.push(p);
    n += Buffer.byteLength(p);
  }
  return utf8(out.join(''));
}

export const CORPUS: { name: string; bytes: Buffer }[] = [
  ['empty', ''],
  ['spaces only', '     '],
  ['one space', ' '],
  ['leading, trailing and multiple spaces', '  hello   world  '],
  ['tabs', 'a\tb\t\tc\t'],
  ['CRLF', 'line one\r\nline two\r\n\r\nend'],
  ['newlines and spaces mixed', 'a \n  \n b\n\n\n  c   \r\n  '],
  ['digit runs', '1234567 12 1 0001 3.14159 -42 1,000,000'],
  ['contractions', "don't I'M we're they've I'll she'd it's DON'T You'Re 'tis"],
  ['punctuation runs', '!!! ... ?!?! --- ((x)) [[y]] {{z}} @#$%^&* :) "quoted" \'single\''],
  ['accents', 'Zoë saw naïve café, résumé, Ångström, São Paulo, Kraków, Œuvre'],
  ['CJK', '東京は日本の首都です。我爱北京天安门。한국어 텍스트'],
  ['emoji and ZWJ sequences', 'hi 🐢🐢 👨‍👩‍👧‍👦 family 🏳️‍🌈 flag 👍🏽 thumbs'],
  ['combining marks', 'e\u0301te\u0301 a\u0308 n\u0303o \u0915\u093f \u05e9\u05c1'],
  ['mixed scripts and symbols', 'α+β=γ ∑x² ≤ 10⁶ № ½ Ⅻ ٣٤ ①'],
  ['code', 'def f(x):\n    return x  # ok\r\n\tdone  '],
  ['special-looking text', 'a <|begin_of_text|> b <|eot_id|>c<s></s>'],
  ['unicode spaces', 'a\u00a0b\u2003c\u3000d\u200be\ufefff'],
].map(([name, s]) => ({ name, bytes: utf8(s) }));

CORPUS.push(
  { name: 'invalid UTF-8 bytes', bytes: Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0xe2, 0x82, 0x20, 0xf0, 0x9f, 0x90, 0x41, 0xed, 0xa0, 0x80, 0xc0, 0xaf, 0x80, 0x7a]) },
  { name: '10 KB text', bytes: tenKb() },
);
