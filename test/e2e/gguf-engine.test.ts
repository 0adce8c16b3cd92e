/**
 * llama.cpp's quantized GGUFs (Q4_K_M mixes Q4_K/Q6_K; Q6_K) through the whole path: retro build
 * for host, PowerBook G4 and Pentium II, each binary run (under qemu / wine), its greedy text equal
 * to the TS reference on the same model.rtr; for f32 that is also the reference on the GGUF itself,
 * whose tokens llama-cpp.test.ts checks against llama.cpp.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { wineEnv } from '../helpers/e2e.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { generateText } from '../helpers/run.js';
import { haveTools } from '../helpers/tools.js';

const TARGETS = ['host', 'powerbook-g4', 'win98-pentium2'];
const golden = (name: string) => JSON.parse(readFileSync(model(`gguf/golden/${name}.jsonl`), 'utf8').split('\n')[0]) as { prompt: string; promptIds: number[] };

describe.each([
  ['l2-q4_k_m', 'f32'],
  ['l2-q6_k', 'q8'],
] as const)('%s built as %s', (name, quant) => {
  const out = tempDir(`retro-gguf-e2e-${name}-`);
  const g = golden(name);
  const steps = g.promptIds.length - 1 + 32;
  const args = ['-t', '0', '-n', String(steps), '-i', g.prompt];

  it.each(TARGETS)('%s: every binary prints the reference text', async (target) => {
    const p = loadProfile(target);
    if (!haveTools(...p.cross.flatMap((b) => [b.compiler, ...(b.run?.emulator ? [b.run.emulator] : [])]))) return;
    const r = await runBuild({ target, model: model(`gguf/${name}.gguf`), quant, groupSize: 32, out: join(out, target), compile: true });
    expect(r.binaries.map((b) => b.status)).toEqual(p.cross.map(() => 'built'));
    const ref = generateText({ model: join(r.out, 'model.rtr'), temperature: 0, steps, prompt: g.prompt });
    if (quant === 'f32') expect(ref.equals(generateText({ model: model(`gguf/${name}.gguf`), temperature: 0, steps, prompt: g.prompt }))).toBe(true);
    for (const b of p.cross) {
      const run = await runBinary(b, join(r.out, b.output), ['model.rtr', ...args], { cwd: r.out, env: wineEnv(out) });
      expect(run.exitCode, `${b.id}: ${run.stderr}`).toBe(0);
      expect(run.stdout.toString('latin1'), b.id).toBe(ref.toString('latin1'));
    }
  }, 600_000);
});
