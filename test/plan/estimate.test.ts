import { describe, expect, it } from 'vitest';
import { planNative } from '../../src/model/native.js';
import { shapeConfig, syntheticTokenizer } from '../../src/model/synthetic.js';
import { estimateSpeed } from '../../src/plan/estimate.js';
import { macsPerToken } from '../../src/plan/memory.js';
import { loadProfile } from '../../src/profile/load.js';
import { QUANT_NAMES, type QuantKind } from '../../src/quant/kinds.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { retro } from '../helpers/cli.js';
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
    const seconds = (macs * p2.estimate!.instructionsPerMac!.q8 * p2.estimate!.cyclesPerInstruction!) / (p2.cpu.clockMhz * 1e6);
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

  it('a profile without figures: a stated guess by CPU family, labelled not calibrated; measured figures come first', () => {
    const dir = tempDir();
    // A PowerMac G3 written as the README tells: extends base-powerpc, no estimate (nobody knows instructions per multiply-add).
    const g3Path = join(dir, 'powermac-g3.json');
    writeFileSync(g3Path, JSON.stringify({ extends: 'base-powerpc', id: 'powermac-g3', name: 'Power Macintosh G3 400 MHz', cpu: { family: 'PowerPC 750 (G3)', clockMhz: 400 } }));
    const g3 = loadProfile(g3Path);
    expect(g3.estimate).toBeUndefined();
    const macs = macsPerToken(layout);
    const guess = estimateSpeed(g3, 'f32', macs, 1, { bytes: 0, reads: 0 });
    expect(guess.source).toBe('guess');
    expect(guess.calibrated).toBe(false);
    // No AltiVec on a G3: the PowerPC scalar counts (3.86 f32) at the G4's 3.2 cycles per instruction.
    expect(guess.tokensPerSecond).toBeCloseTo((400e6) / (macs * 3.86 * 3.2), 6);
    expect(guess.assumptions.at(-1)).toMatch(/^not calibrated: a guess for PowerPC without AltiVec, 3\.86 instructions per multiply-add x 3\.2 cycles per instruction, from .*bench:instructions.*; retro calibrate powermac-g3 measures this machine$/);
    // The G4 keeps its own figures; with AltiVec the guess would be the G4's counts.
    expect(estimateSpeed(loadProfile('powerbook-g4'), 'q8', macs, 1, { bytes: 0, reads: 0 }).source).toBe('profile');
    const x86 = { ...g3, cpu: { ...g3.cpu, arch: 'x86' as const, simd: ['mmx'] } };
    expect(estimateSpeed(x86, 'q8', macs, 1, { bytes: 0, reads: 0 }).tokensPerSecond).toBeCloseTo(400e6 / (macs * 1.91 * 3.1), 6);
    const m68k = { ...g3, cpu: { ...g3.cpu, arch: 'm68k' as const } };
    expect(estimateSpeed(m68k, 'f32', macs, 1, { bytes: 0, reads: 0 }).assumptions.at(-1)).toMatch(/no figures for m68k: a 32-bit RISC's \(PowerPC scalar\) taken instead/);
    // A measured kind is used as measured; the other kinds stay guesses.
    writeFileSync(g3Path, JSON.stringify({ extends: 'base-powerpc', id: 'powermac-g3', name: 'G3', cpu: { clockMhz: 400 }, estimate: { measured: { q8: { cyclesPerMac: 20, how: 'a test' } } } }));
    const calibrated = loadProfile(g3Path);
    const q8 = estimateSpeed(calibrated, 'q8', macs, 1, { bytes: 0, reads: 0 });
    expect(q8.calibrated).toBe(true);
    expect(q8.tokensPerSecond).toBeCloseTo(400e6 / (macs * 20), 6);
    expect(q8.assumptions.at(-1)).toBe('20 cycles per multiply-add for q8, measured: a test');
    expect(estimateSpeed(calibrated, 'f32', macs, 1, { bytes: 0, reads: 0 }).source).toBe('guess');
    // Half the profile's figures is a mistake, named.
    writeFileSync(g3Path, JSON.stringify({ extends: 'base-powerpc', id: 'powermac-g3', name: 'G3', estimate: { cyclesPerInstruction: 2 } }));
    expect(() => loadProfile(g3Path)).toThrow(/field estimate\.instructionsPerMac: instructionsPerMac, cyclesPerInstruction and why go together/);
  });

  it('retro plan on that profile loads it and says the estimate is not calibrated', async () => {
    const dir = tempDir();
    const g3Path = join(dir, 'powermac-g3.json');
    writeFileSync(g3Path, JSON.stringify({ extends: 'base-powerpc', id: 'powermac-g3', name: 'Power Macintosh G3 400 MHz', cpu: { family: 'PowerPC 750 (G3)', clockMhz: 400 } }));
    const r = await retro(['plan', '--target', g3Path, '--model', model('stories260K.bin'), '--tokenizer', model('tok512.bin')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/estimated speed: [\d.e+]+ tok\/s \(ESTIMATE, \w+-bound, not calibrated\)/);
    expect(r.stdout.toString()).toMatch(/- not calibrated: a guess for PowerPC without AltiVec/);
  });

  it('the host: each kind at its own measured speed (npm run bench:host), measured with the flags the host builds with', () => {
    const host = loadProfile('host');
    const macs = macsPerToken(layout);
    const measured = QUANT_NAMES.map((k) => host.estimate?.measured?.[k]);
    expect(measured.every((m) => m !== undefined)).toBe(true);
    // Measured, so not alike: each kind its own figure, and plan's estimates keep their ratios.
    expect(new Set(measured.map((m) => m!.cyclesPerMac)).size).toBe(QUANT_NAMES.length);
    const tps = (k: QuantKind) => estimateSpeed(host, k, macs, 1, { bytes: 0, reads: 0 }).tokensPerSecond;
    expect(tps('f32') / tps('q4')).toBeCloseTo(host.estimate!.measured!.q4!.cyclesPerMac / host.estimate!.measured!.f32!.cyclesPerMac, 9);
    expect(tps('f32') / tps('q8')).toBeCloseTo(host.estimate!.measured!.q8!.cyclesPerMac / host.estimate!.measured!.f32!.cyclesPerMac, 9);
    // The figures say which compile flags they were measured with: the ones the host's builds use.
    const flags = host.cross[0].flags.join(' ');
    expect(host.toolchains[0].flags.join(' ')).toBe(flags);
    for (const m of measured) expect(m!.how).toContain(`gcc ${flags}`);
  });
});
