/** yargs command modules, registered from an explicit list (commandDir does not work in ESM). */
import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { runGenerate } from '../core/generate.js';
import { InputFileError, UsageError } from '../errors.js';
import { consoleOutput } from './io.js';

function promptBytes(prompt: string | undefined, promptFile: string | undefined): Uint8Array {
  if (promptFile !== undefined) {
    try {
      return readFileSync(promptFile);
    } catch (e) {
      throw new InputFileError(`${promptFile}: cannot read prompt file (${(e as NodeJS.ErrnoException).code})`, 'check the path given to --prompt-file');
    }
  }
  if (prompt === undefined) return new Uint8Array(0);
  // Node decodes argv as UTF-8 and turns invalid bytes into U+FFFD.
  if (prompt.includes('\uFFFD')) throw new UsageError('the prompt is not valid UTF-8', 'pass the prompt as UTF-8 text');
  return Buffer.from(prompt, 'utf8');
}

function parseSeed(s: string | undefined): bigint | undefined {
  if (s === undefined) return undefined;
  if (!/^-?\d+$/.test(s)) throw new UsageError(`seed ${JSON.stringify(s)} is not an integer`, 'pass -s with a whole number, e.g. -s 42');
  return BigInt.asUintN(64, BigInt(s));
}

interface GenerateArgs {
  model: string;
  tokenizer?: string;
  temperature: number;
  topp: number;
  seed?: string;
  steps: number;
  prompt?: string;
  'prompt-file'?: string;
}

const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'run the TypeScript reference engine (flags and output as llama2.c run)',
  builder: (y) =>
    y
      .option('model', { alias: 'm', type: 'string', demandOption: true, describe: 'model file: llama2.c .bin (v0/v1/v2) or GGUF' })
      .option('tokenizer', { alias: 'z', type: 'string', describe: 'llama2.c tokenizer.bin (optional for GGUF with an embedded vocab)' })
      .option('temperature', { alias: 't', type: 'number', default: 1.0, describe: '0 = greedy' })
      .option('topp', { alias: 'p', type: 'number', default: 0.9, describe: 'top-p (nucleus) sampling' })
      .option('seed', { alias: 's', type: 'string', describe: 'RNG seed (default: time)' })
      .option('steps', { alias: 'n', type: 'number', default: 256, describe: 'positions to run; 0 = seq_len' })
      .option('prompt', { alias: 'i', type: 'string', describe: 'input prompt' })
      .option('prompt-file', { type: 'string', describe: 'read the prompt bytes from a file' }) as never,
  handler: (a) => {
    runGenerate(
      {
        model: a.model,
        tokenizer: a.tokenizer,
        temperature: a.temperature,
        topp: a.topp,
        seed: parseSeed(a.seed),
        steps: a.steps,
        prompt: promptBytes(a.prompt, a['prompt-file']),
      },
      consoleOutput,
    );
  },
};

export const commands: CommandModule<object, never>[] = [generateCommand as CommandModule<object, never>];
