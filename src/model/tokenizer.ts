/** llama2.c tokenizer.bin (u32 max_token_length, then per token: f32 score, i32 length, bytes), or a Hugging Face tokenizer.json. */
import { TokenizerError } from '../errors.js';
import type { Vocab } from '../reference/model.js';
import { BinaryFile } from './file.js';
import { isTokenizerJson, readTokenizerJson } from './tokenizer-json.js';

const MAX_TOKENIZER_BYTES = 64 << 20;

export function readTokenizer(path: string, vocabSize: number): Vocab {
  const file = BinaryFile.open(path, 'tokenizer');
  try {
    if (file.size > MAX_TOKENIZER_BYTES) {
      throw new TokenizerError(`${path}: ${file.size} bytes is too large for a tokenizer`, 'pass a llama2.c tokenizer.bin');
    }
    const buf = Buffer.from(file.read(0, file.size));
    if (isTokenizerJson(buf)) return readTokenizerJson(path, buf, vocabSize);
    if (buf.length < 4) throw new TokenizerError(`${path}: truncated tokenizer (${buf.length} bytes)`, 'pass a complete llama2.c tokenizer.bin');
    const maxTokenLength = buf.readUInt32LE(0);
    if (maxTokenLength === 0 || maxTokenLength > 4096) {
      throw new TokenizerError(`${path}: max_token_length ${maxTokenLength} is impossible; not a llama2.c tokenizer`, 'pass a llama2.c tokenizer.bin');
    }
    const pieces: string[] = [];
    const scores: number[] = [];
    let at = 4;
    while (at < buf.length) {
      if (at + 8 > buf.length) throw new TokenizerError(`${path}: truncated in the record of token ${pieces.length}`, 'the file is incomplete');
      const score = buf.readFloatLE(at);
      const len = buf.readInt32LE(at + 4);
      if (!Number.isFinite(score)) throw new TokenizerError(`${path}: token ${pieces.length} has score ${score}`, 'the file is corrupt; scores are finite numbers');
      if (len < 0 || len > maxTokenLength || at + 8 + len > buf.length) {
        throw new TokenizerError(`${path}: token ${pieces.length} has length ${len} (max_token_length ${maxTokenLength}, ${buf.length - at - 8} bytes left)`, 'the file is corrupt or not a llama2.c tokenizer');
      }
      pieces.push(buf.toString('latin1', at + 8, at + 8 + len));
      scores.push(score);
      at += 8 + len;
    }
    if (pieces.length !== vocabSize) {
      throw new TokenizerError(
        `${path}: tokenizer has ${pieces.length} tokens but the model's vocabulary is ${vocabSize}`,
        `pass the tokenizer the model was trained with, one of ${vocabSize} tokens`,
      );
    }
    // llama2.c's export spells BOS and EOS "\n<s>\n" and "\n</s>\n": read back as SentencePiece's own text, matched whole with <unk>
    const specials = pieces[0] === '<unk>' && pieces[1] === '\n<s>\n' && pieces[2] === '\n</s>\n' ? [0, 1, 2] : [];
    if (specials.length) [pieces[1], pieces[2]] = ['<s>', '</s>'];
    return { pieces, scores: Float32Array.from(scores), maxTokenLength, bosId: 1, eosId: 2, specials };
  } finally {
    file.close();
  }
}
