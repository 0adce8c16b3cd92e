import { describe, expect, it } from 'vitest';
import { golden, model, ONCE } from '../helpers/fixtures.js';
import { generateText } from '../helpers/run.js';

const tok = model('tok512.bin');

describe('reference engine reproduces llama2.c run/runq byte for byte', () => {
  it('stories260K greedy -n 64', () => {
    const out = generateText({ model: model('stories260K.bin'), tokenizer: tok, temperature: 0, steps: 64, prompt: ONCE });
    expect(out.toString('latin1')).toBe(golden('stories260K_once-upon-a-time_t0_n64.txt').toString('latin1'));
  });

  it('stories260K greedy -n 256', () => {
    const out = generateText({ model: model('stories260K.bin'), tokenizer: tok, temperature: 0, steps: 256, prompt: ONCE });
    expect(out.equals(golden('stories260K_once-upon-a-time_t0_n256.txt'))).toBe(true);
  });

  it('stories260K -t 1.0 -p 0.9 -s 42 -n 200', () => {
    const out = generateText({ model: model('stories260K.bin'), tokenizer: tok, temperature: 1.0, topp: 0.9, seed: 42n, steps: 200, prompt: ONCE });
    expect(out.toString('latin1')).toBe(golden('stories260K_once-upon-a-time_t1.0_p0.9_s42_n200.txt').toString('latin1'));
  });

  it('stories260K -t 0.8 -p 1.0 -s 1337 -n 200 (multinomial, no top-p)', () => {
    const out = generateText({ model: model('stories260K.bin'), tokenizer: tok, temperature: 0.8, topp: 1.0, seed: 1337n, steps: 200, prompt: 'The little dog' });
    expect(out.toString('latin1')).toBe(golden('stories260K_the-little-dog_t0.8_p1.0_s1337_n200.txt').toString('latin1'));
  });

  it('synthetic_v0 (unshared classifier)', () => {
    const out = generateText({ model: model('synthetic_v0.bin'), tokenizer: tok, temperature: 0, steps: 60, prompt: ONCE });
    expect(out.toString('latin1')).toBe(golden('synthetic_v0_t0_n60.txt').toString('latin1'));
  });

  it('synthetic_v2_q8 (runq arithmetic)', () => {
    const out = generateText({ model: model('synthetic_v2_q8.bin'), tokenizer: tok, temperature: 0, steps: 60, prompt: ONCE });
    expect(out.toString('latin1')).toBe(golden('synthetic_v2q8_t0_n60.txt').toString('latin1'));
  });

  it('stories260K.gguf with its embedded tokenizer prints the same text as the .bin', () => {
    const out = generateText({ model: model('stories260K.gguf'), temperature: 0, steps: 256, prompt: ONCE });
    expect(out.equals(golden('stories260K_once-upon-a-time_t0_n256.txt'))).toBe(true);
  });

  it('the seed matters: another seed gives another story', () => {
    const out = generateText({ model: model('stories260K.bin'), tokenizer: tok, temperature: 1.0, topp: 0.9, seed: 43n, steps: 200, prompt: ONCE });
    expect(out.equals(golden('stories260K_once-upon-a-time_t1.0_p0.9_s42_n200.txt'))).toBe(false);
  });
});
