/** plan's recommendation: the fastest setup that fits by its own estimate, behind the quality guard. */
import { describe, expect, it } from 'vitest';
import { planModel, type PlanOption } from '../../src/plan/plan.js';
import { loadProfile } from '../../src/profile/load.js';
import { QUANT_NAMES, quantKind } from '../../src/quant/kinds.js';
import { shapeConfig, syntheticVocab, TIED_SHAPES } from '../../src/model/synthetic.js';

function plan(shape: string, target: string) {
  const config = shapeConfig(shape);
  return planModel(loadProfile(target), { config, vocab: syntheticVocab(config.vocabSize), sharedClassifier: TIED_SHAPES.has(shape), description: shape, modelPath: `${shape}.bin` }, { groupSize: 32 });
}

const tps = (o: PlanOption) => o.estimate!.tokensPerSecond;
const rank = (o: PlanOption) => QUANT_NAMES.indexOf(o.quant);

describe('retro plan recommends the fastest setup that fits', () => {
  it('15M on the Pentium II: q8 in RAM (MMX), faster than f32 on x87 by the estimates', () => {
    const r = plan('15M', 'win98-pentium2');
    expect(r.recommendation?.quant).toBe('q8');
    expect(r.recommendation?.mode).toBe('ram');
    const f32 = r.options.find((o) => o.quant === 'f32' && o.mode === 'ram')!;
    expect(f32.fits).toBe(true);
    expect(tps(r.recommendation!)).toBeGreaterThan(tps(f32));
  });

  for (const shape of ['15M', '110M', 'SmolLM2-135M', 'TinyLlama-1.1B']) {
    for (const target of ['win98-pentium2', 'powerbook-g4', 'xbox360-xenon']) {
      it(`${shape} on ${target}: nothing that fits is faster, except a less exact kind inside its guard`, () => {
        const r = plan(shape, target);
        const pick = r.recommendation;
        if (!pick) {
          expect(r.considered.some((o) => o.fits)).toBe(false);
          return;
        }
        expect(pick.fits).toBe(true);
        const candidates = r.considered.filter((o) => o.fits);
        expect(candidates.every((o) => o.seqLen === pick.seqLen)).toBe(true);
        expect(candidates).toContain(pick);
        for (const o of candidates) {
          if (tps(o) <= tps(pick)) continue;
          expect(rank(o), `${o.quant} ${o.mode} is faster than ${pick.quant} ${pick.mode}`).toBeGreaterThan(rank(pick));
          expect(tps(o)).toBeLessThan(tps(pick) * quantKind(o.quant).guard.speedup);
        }
      });
    }
  }
});

describe('retro plan and the int8 KV cache', () => {
  const facts = (seqLen: number) => {
    const config = { ...shapeConfig('15M'), seqLen };
    return { config, vocab: syntheticVocab(config.vocabSize), sharedClassifier: true, description: '15M', modelPath: '15M.bin' };
  };

  it('where the f32 cache shortens the context, it names the longer one an int8 cache fits', () => {
    const r = planModel(loadProfile('win98-pentium2'), facts(131072), { groupSize: 32 });
    const f32 = r.recommendation!;
    const int8 = r.int8Cache!;
    expect(f32.seqLen).toBeLessThan(131072);
    expect(int8.seqLen).toBeGreaterThan(f32.seqLen);
    expect(int8.fits).toBe(true);
    expect(int8.allocated).toBeLessThanOrEqual(r.budgetBytes);
    // asked for int8 directly, plan recommends that context itself
    expect(planModel(loadProfile('win98-pentium2'), facts(131072), { groupSize: 32, kvCache: 'int8' }).recommendation?.seqLen).toBe(int8.seqLen);
  });

  it('says nothing of it when the model fits at its own context', () => {
    expect(planModel(loadProfile('win98-pentium2'), facts(256), { groupSize: 32 }).int8Cache).toBeUndefined();
  });
});
