import { describe, expect, it } from 'vitest';
import { planNative } from '../../src/model/native.js';
import { shapeConfig, syntheticTokenizer } from '../../src/model/synthetic.js';
import { estimateSpeed } from '../../src/plan/estimate.js';
import { macsPerToken } from '../../src/plan/memory.js';
import { loadProfile } from '../../src/profile/load.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { tempDir } from '../helpers/fixtures.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

describe('speed estimates', () => {
  const tok = join(tempDir(), 'tok.bin');
  writeFileSync(tok, syntheticTokenizer(32000));
  const vocab = readTokenizer(tok, 32000);
  const layout = planNative(shapeConfig('15M'), vocab, 'q8', 32, 16, true, 'x');

  it('counts the 15M shape at 15.2 M multiply-adds a token', () => {
    // 6 x (4 x 288^2 + 3 x 288 x 768) + 32000 x 288
    expect(macsPerToken(layout)).toBe(6 * (4 * 288 * 288 + 3 * 288 * 768) + 32000 * 288);
  });

  it('is bound by the slowest of compute and memory, plus disk when streaming, and says so', () => {
    const p2 = loadProfile('win98-pentium2');
    const macs = macsPerToken(layout);
    const ram = estimateSpeed(p2, 'q8', macs, 16e6, 0);
    expect(ram.bound).toBe('compute');
    const seconds = (macs * p2.estimate.instructionsPerMac.q8 * p2.estimate.cyclesPerInstruction) / (p2.cpu.clockMhz * 1e6);
    expect(ram.tokensPerSecond).toBeCloseTo(1 / seconds, 6);
    const streamed = estimateSpeed(p2, 'q8', macs, 16e6, 16e6);
    expect(streamed.bound).toBe('disk');
    expect(streamed.tokensPerSecond).toBeLessThan(ram.tokensPerSecond);
    expect(streamed.assumptions.join('\n')).toMatch(/read from disk per token at 15 MB\/s/);
    expect(estimateSpeed(p2, 'f32', 1, 1e9, 0).bound).toBe('memory');
  });
});
