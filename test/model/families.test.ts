/**
 * The families of src/model/arch.ts beyond Llama, on synthetic GGUFs of their layout (Llama 2's
 * real SentencePiece vocabulary; 4 layers, so SmolLM3's RoPE-less 4th layer is in): llama.cpp
 * (node-llama-cpp) runs the same F32 file, and the reference's greedy tokens and log-probabilities
 * must match its own within the F32 bound of llama-cpp.test.ts (a Q/K row order not moved from
 * NeoX halves into pairs, a QK-norm or bias left out, or RoPE on SmolLM3's 4th layer moves them by
 * whole nats). Then each family is built for every target whose tools are here, f32 and q8, and
 * every binary prints the reference's text on the same model.rtr, byte for byte.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { archByName, type ArchName } from '../../src/model/arch.js';
import { openModel } from '../../src/model/open.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { wineEnv } from '../helpers/e2e.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { llamaGguf, vocabKvs } from '../helpers/gguf-writer.js';
import { llamaGreedy } from '../helpers/llama-oracle.js';
import { loadTransformer, parity } from '../helpers/parity.js';
import { generateText } from '../helpers/run.js';
import { haveTools } from '../helpers/tools.js';

const FAMILIES: ArchName[] = ['qwen3', 'qwen2', 'smollm3'];
const SHAPE = { dim: 256, hiddenDim: 512, nLayers: 4, nHeads: 4, nKvHeads: 2, vocabSize: 32000, headSize: 64, contextLength: 256 };
const STEPS = 24;
const F32_BOUND = 0.001;
const dir = tempDir('retro-families-');

function fixture(arch: ArchName): string {
  const file = join(dir, `${arch}.gguf`);
  if (!existsSync(file)) llamaGguf(file, SHAPE, { arch, vocab: vocabKvs(model('gguf/l2-q8_0.gguf')), seed: 7 });
  return file;
}

describe.each(FAMILIES)('%s', (arch) => {
  it('is read as its row', () => {
    const src = openModel(fixture(arch));
    expect(src.config.arch).toBe(arch);
    expect(src.config.noRopeEvery).toBe(archByName(arch)!.noRopeEvery || undefined);
    src.close();
  });

  it('greedy tokens and distributions equal llama.cpp on the F32 file', async () => {
    const file = fixture(arch);
    const t = loadTransformer(file);
    const runs = await llamaGreedy(file, [ONCE, 'def f(x):\n    return x'], STEPS);
    for (const r of runs) {
      const p = parity(t, r.promptIds, r.ids, r.logProbs);
      const report = `${arch}: greedy equal for ${p.greedyPrefix}/${STEPS} steps, differing steps ${JSON.stringify(p.diffs)}, max log-prob difference ${p.maxLogitDiff}`;
      expect(p.maxLogitDiff, report).toBeLessThanOrEqual(F32_BOUND);
      for (const d of p.diffs) expect(d.margin, report).toBeLessThanOrEqual(2 * F32_BOUND);
    }
  }, 120_000);

  it.for(['host', 'powerbook-g4', 'xbox360-xenon', 'win98-pentium2'].flatMap((target) => (['f32', 'q8'] as const).map((quant) => [target, quant] as const)))(
    'on %s as %s every binary prints the reference text',
    { timeout: 600_000 },
    async ([target, quant], ctx) => {
      const p = loadProfile(target);
      if (!haveTools(...p.cross.flatMap((b) => [b.compiler, ...(b.run?.emulator ? [b.run.emulator] : [])]))) return ctx.skip();
      const r = await runBuild({ target, model: fixture(arch), quant, groupSize: 32, out: join(dir, `${arch}-${target}-${quant}`), compile: true });
      expect(r.binaries.map((b) => b.status)).toEqual(p.cross.map(() => 'built'));
      const steps = 12; // past the prompt: enough to show the engine's text is the reference's, short under emulation
      const ref = generateText({ model: join(r.out, 'model.rtr'), temperature: 0, steps, prompt: ONCE });
      if (quant === 'f32') expect(ref.equals(generateText({ model: fixture(arch), temperature: 0, steps, prompt: ONCE }))).toBe(true);
      for (const b of p.cross) {
        const run = await runBinary(b, join(r.out, b.output), ['model.rtr', '-t', '0', '-n', String(steps), '-i', ONCE], { cwd: r.out, env: wineEnv() });
        expect(run.exitCode, `${b.id}: ${run.stderr}`).toBe(0);
        expect(run.stdout.toString('latin1'), b.id).toBe(ref.toString('latin1'));
      }
    },
  );
});
