/**
 * llama.cpp as the oracle, from the node-llama-cpp devDependency: its libllama/libggml-base (through a
 * small C program compiled here against the headers of the llama.cpp source the package ships) to
 * quantize and dequantize, and its runtime to tokenize and decode greedily. Nothing here is retro's code.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './fixtures.js';

const PKG = join(REPO, 'node_modules/node-llama-cpp');
const BINS = join(REPO, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');
const SOURCE = join(REPO, 'test/helpers/oracle/ggml-oracle.c');

/** llama_ftype numbers (llama.h), the quantization mixes llama-quantize names. */
export const FTYPE = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K_M: 12, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18, IQ4_NL: 25, BF16: 32, TQ1_0: 36, TQ2_0: 37 } as const;

let binary: string | undefined;

/** Compiles the oracle once per source version; llama.cpp's headers come from the package's own git bundle. */
function oracle(): string {
  if (binary) return binary;
  const bundle = join(PKG, 'llama/gitRelease.bundle');
  const key = createHash('sha256').update(readFileSync(SOURCE)).update(String(statSync(bundle).size)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `retro-llama-oracle-${key}`);
  const exe = join(dir, 'ggml-oracle');
  if (!existsSync(exe)) {
    const work = `${dir}.${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    execFileSync('git', ['clone', '-q', '--no-checkout', bundle, join(work, 'src')]);
    execFileSync('git', ['-C', join(work, 'src'), 'checkout', '-q', 'HEAD', '--', 'include', 'ggml/include']);
    execFileSync('gcc', [
      '-O1', '-o', join(work, 'ggml-oracle'), SOURCE,
      `-I${join(work, 'src/include')}`, `-I${join(work, 'src/ggml/include')}`,
      join(BINS, 'libllama.v0.5.0.so'), join(BINS, 'libggml-base.so'), join(BINS, 'libggml.v0.5.0.so'), `-Wl,-rpath,${BINS}`,
    ]);
    rmSync(join(work, 'src'), { recursive: true, force: true });
    try {
      renameSync(work, dir);
    } catch {
      rmSync(work, { recursive: true, force: true }); // another worker won the race
    }
  }
  binary = exe;
  return exe;
}

/** llama_model_quantize(in -> out); `pure` makes every matrix the ftype's own type. */
export function llamaQuantize(input: string, output: string, ftype: number, pure: boolean): void {
  execFileSync(oracle(), ['quantize', input, output, String(ftype), ...(pure ? ['pure'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Every tensor of a GGUF dequantized by ggml's own to_float. */
export function llamaDequantize(file: string, outDir: string): Map<string, Float32Array> {
  mkdirSync(outDir, { recursive: true });
  execFileSync(oracle(), ['dequant', file, outDir]);
  const out = new Map<string, Float32Array>();
  for (const f of readdirSync(outDir)) {
    const b = readFileSync(join(outDir, f));
    out.set(f.replace(/\.f32$/, ''), new Float32Array(b.buffer, b.byteOffset, b.length / 4));
  }
  return out;
}

export interface LlamaGreedy {
  promptIds: number[]; // BOS + llama.cpp's tokenization
  ids: number[]; // greedy continuation
  /** Per greedy step, llama.cpp's natural log of every token's probability: its logits up to a constant. */
  logProbs: Float32Array[];
}

/** llama.cpp's prompt ids, greedy tokens and full distributions: one thread, CPU only, nothing built or downloaded. */
export async function llamaGreedy(modelPath: string, prompts: (string | number[])[], steps: number): Promise<LlamaGreedy[]> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath });
  try {
    const out: LlamaGreedy[] = [];
    for (const prompt of prompts) {
      const promptIds = typeof prompt === 'string' ? [model.tokens.bos!, ...model.tokenize(prompt)] : prompt;
      // float32 KV cache: llama.cpp's default f16 cache would add its own rounding to the comparison
      const context = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
      const ids: number[] = [];
      const logProbs: Float32Array[] = [];
      for await (const o of context.getSequence().evaluateWithMetadata(promptIds as never, { probabilities: true }, { temperature: 0 })) {
        ids.push(o.token as number);
        // tokens whose probability underflowed to 0 may be left out of the map: they stay -Infinity
        let size = 0;
        for (const t of o.probabilities.keys()) size = Math.max(size, (t as number) + 1);
        const lp = new Float32Array(size).fill(-Infinity);
        for (const [t, p] of o.probabilities) lp[t as number] = Math.log(p);
        logProbs.push(lp);
        if (ids.length >= steps) break;
      }
      await context.dispose();
      out.push({ promptIds: promptIds.map(Number), ids, logProbs });
    }
    return out;
  } finally {
    await model.dispose();
  }
}

/** llama.cpp's tokenization of each text, BOS first; `special`: special tokens typed in the text are matched whole (parse_special). */
export async function llamaTokenize(modelPath: string, texts: string[], special: boolean): Promise<number[][]> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath, vocabOnly: true });
  try {
    return texts.map((t) => [model.tokens.bos!, ...model.tokenize(t, special)].map(Number));
  } finally {
    await model.dispose();
  }
}

/** One GGUF per listed type, made by llama.cpp's quantizer from the Q8_0 fixture with every matrix of that type. */
export const PURE_TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'TQ1_0', 'TQ2_0'] as const;
const PURE_FTYPE: Record<(typeof PURE_TYPES)[number], number> = {
  F32: FTYPE.F32, F16: FTYPE.F16, BF16: FTYPE.BF16, Q8_0: FTYPE.Q8_0, Q4_0: FTYPE.Q4_0, Q4_1: FTYPE.Q4_1, Q5_0: FTYPE.Q5_0,
  Q5_1: FTYPE.Q5_1, Q2_K: FTYPE.Q2_K, Q3_K: FTYPE.Q3_K_M, Q4_K: FTYPE.Q4_K_M, Q5_K: FTYPE.Q5_K_M, Q6_K: FTYPE.Q6_K, TQ1_0: FTYPE.TQ1_0, TQ2_0: FTYPE.TQ2_0,
};

export function pureFixture(source: string, dir: string, type: (typeof PURE_TYPES)[number]): string {
  const out = join(dir, `pure-${type.toLowerCase()}.gguf`);
  if (!existsSync(out)) llamaQuantize(source, out, PURE_FTYPE[type], true);
  return out;
}
