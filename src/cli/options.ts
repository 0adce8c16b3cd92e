/** Flag groups several commands share, and the parsing of values every command reads the same way. */
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { readBounded } from '../model/file.js';
import { MAX_PROMPT_BYTES } from '../model/inputs.js';
import { INT_QUANT_NAMES, QUANT_NAMES } from '../quant/kinds.js';
import { KV_CACHE_KINDS } from '../reference/model.js';

/** --target and --targets. */
export function targetOptions<T>(y: Argv<T>, demand: boolean) {
  return y
    .option('target', { type: 'string', demandOption: demand, describe: 'target id (retro targets) or a profile .json' })
    .option('targets', { type: 'string', describe: 'a folder of your own profiles' });
}

/** --model and --tokenizer. */
export function modelOptions<T>(y: Argv<T>, describeModel = 'model file (default: the built-in tiny model)') {
  return y
    .option('model', { alias: 'm', type: 'string', describe: describeModel })
    .option('tokenizer', { alias: 'z', type: 'string', describe: 'llama2.c tokenizer.bin or Hugging Face tokenizer.json (optional for models that carry their vocabulary: GGUF, a folder with tokenizer.json)' });
}

/** --quant (one kind, from quant/kinds.ts) and --group-size. */
export function quantOptions<T>(y: Argv<T>, quant: { default?: string; describe: string }) {
  return y.option('quant', { choices: QUANT_NAMES, ...quant }).option('group-size', { type: 'number', default: 32, describe: 'values per scale of the integer kinds' });
}

/** --kv-cache: how the engine holds keys and values (model.rtr records it). */
export function kvCacheOption<T>(y: Argv<T>, describe = "the engine's KV cache: f32, or int8 (a quarter of the bytes, one scale per head and position)") {
  return y.option('kv-cache', { choices: KV_CACHE_KINDS, default: 'f32' as const, describe });
}

/** --quant for quality: the integer kinds, several at once. */
export function intQuantOption<T>(y: Argv<T>) {
  return y.option('quant', { type: 'array', choices: INT_QUANT_NAMES, default: [...INT_QUANT_NAMES] }).option('group-size', { type: 'number', default: 32 });
}

/** The sampling flags of llama2.c's run. */
export function samplingOptions<T>(y: Argv<T>, defaults: { temperature: number; steps: number; prompt?: string; seed?: string }) {
  return y
    .option('temperature', { alias: 't', type: 'number', default: defaults.temperature, describe: '0 = greedy' })
    .option('topp', { alias: 'p', type: 'number', default: 0.9, describe: 'top-p (nucleus) sampling' })
    .option('seed', { alias: 's', type: 'string', default: defaults.seed, describe: 'RNG seed' })
    .option('steps', { alias: 'n', type: 'number', default: defaults.steps, describe: 'positions to run; 0 = seq_len' })
    .option('prompt', { alias: 'i', type: 'string', default: defaults.prompt, describe: 'input prompt' });
}

export function jsonOption<T>(y: Argv<T>) {
  return y.option('json', { type: 'boolean', describe: 'machine-readable output (errors too)' });
}

/**
 * A seed as llama2.c's run reads it: a whole number; negatives wrap to 64 bits as its
 * `(unsigned long long)atoi(...)` does. Every command parses seeds here.
 */
export function parseSeed(s: string | undefined): bigint | undefined {
  if (s === undefined) return undefined;
  if (!/^-?\d+$/.test(s)) throw new UsageError(`seed ${JSON.stringify(s)} is not an integer`, 'pass -s with a whole number, e.g. -s 42');
  return BigInt.asUintN(64, BigInt(s));
}

/** The prompt's bytes, from -i or --prompt-file. */
/** The offset of the first byte that does not decode as UTF-8, or -1. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return -1;
  } catch {
    // Everything before the first bad byte decodes to itself; a U+FFFD spelt EF BF BD in the file is text.
    let at = 0;
    for (const ch of new TextDecoder('utf-8').decode(bytes)) {
      if (ch === '\uFFFD' && !(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) return at;
      at += Buffer.byteLength(ch);
    }
    return at;
  }
}

export function promptBytes(prompt: string | undefined, promptFile?: string): Uint8Array {
  if (promptFile !== undefined) {
    const bytes = readBounded(promptFile, MAX_PROMPT_BYTES, 'prompt file', "check the path given to --prompt-file; a prompt must fit the model's context");
    const at = firstInvalidUtf8(bytes);
    if (at >= 0) throw new UsageError(`${promptFile}: the prompt file is not valid UTF-8 (byte ${at})`, 'save the prompt file as UTF-8 text');
    return bytes;
  }
  if (prompt === undefined) return new Uint8Array(0);
  // Node decodes argv as UTF-8 and turns invalid bytes into U+FFFD.
  if (prompt.includes('\uFFFD')) throw new UsageError('the prompt is not valid UTF-8', 'pass the prompt as UTF-8 text');
  return Buffer.from(prompt, 'utf8');
}
