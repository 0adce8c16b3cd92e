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

  it('is bound by the slowest of compute and memory, plus disk when streaming: bytes at the disk rate and the seek of each read, and says so', () => {
    const p2 = loadProfile('win98-pentium2');
    const macs = macsPerToken(layout);
    const ram = estimateSpeed(p2, 'q8', macs, 16e6, { bytes: 0, reads: 0 });
    expect(ram.bound).toBe('compute');
    const seconds = (macs * p2.estimate.instructionsPerMac.q8 * p2.estimate.cyclesPerInstruction) / (p2.cpu.clockMhz * 1e6);
    expect(ram.tokensPerSecond).toBeCloseTo(1 / seconds, 6);
    const streamed = estimateSpeed(p2, 'q8', macs, 16e6, { bytes: 16e6, reads: 20 });
    expect(streamed.bound).toBe('disk');
    // the 1998 IDE disk: 10 MB/s and 15.1 ms a read
    expect(streamed.seconds.transfer).toBeCloseTo(16e6 / (10 * 1048576), 9);
    expect(streamed.seconds.seek).toBeCloseTo(20 * 0.0151, 9);
    expect(1 / streamed.tokensPerSecond).toBeCloseTo(seconds + streamed.seconds.transfer + streamed.seconds.seek, 9);
    expect(streamed.assumptions.join('\n')).toMatch(/15\.3 MB read per token from the UDMA\/33 IDE hard disk.* at 10 MB\/s: 1\.53 s, plus 20 separate reads x 15\.1 ms: 0\.302 s/);
    // the same bytes in more reads cost more; a USB 2.0 stick's reads cost less
    expect(estimateSpeed(p2, 'q8', macs, 16e6, { bytes: 16e6, reads: 2000 }).tokensPerSecond).toBeLessThan(streamed.tokensPerSecond);
    const stick = p2.disk.alternatives.find((d) => d.id === 'usb2-stick')!;
    expect(estimateSpeed(p2, 'q8', macs, 16e6, { bytes: 16e6, reads: 2000 }, stick).seconds.seek).toBeCloseTo(2, 9);
    expect(estimateSpeed(p2, 'f32', 1, 1e9, { bytes: 0, reads: 0 }).bound).toBe('memory');
  });
});
