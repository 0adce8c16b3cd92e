/**
 * A tok/s estimate for a target from its profile: compute time from multiply-adds, instructions
 * per multiply-add and cycles per instruction; memory time from the weight bytes a token touches
 * and the memory bandwidth; disk time for what streaming reads. An estimate, never a measurement.
 */
import type { Profile } from '../profile/schema.js';
import type { QuantKind } from '../quant/kinds.js';

export interface Estimate {
  tokensPerSecond: number;
  bound: 'compute' | 'memory' | 'disk';
  seconds: { compute: number; memory: number; disk: number };
  assumptions: string[];
}

export function estimateSpeed(profile: Profile, quant: QuantKind, macs: number, weightBytes: number, readPerToken: number): Estimate {
  const e = profile.estimate;
  const ipm = e.instructionsPerMac[quant];
  const hz = profile.cpu.clockMhz * 1e6;
  const compute = (macs * ipm * e.cyclesPerInstruction) / hz;
  const memory = weightBytes / (profile.memory.bandwidthMbPerS * 1048576);
  const disk = readPerToken / (profile.memory.diskMbPerS * 1048576);
  // The engine reads synchronously: disk time adds to the rest; compute and memory overlap.
  const total = Math.max(compute, memory) + disk;
  const bound = disk > Math.max(compute, memory) ? 'disk' : compute >= memory ? 'compute' : 'memory';
  return {
    tokensPerSecond: 1 / total,
    bound,
    seconds: { compute, memory, disk },
    assumptions: [
      `${(macs / 1e6).toFixed(1)} M multiply-adds per token x ${ipm} instructions each x ${e.cyclesPerInstruction} cycles per instruction at ${profile.cpu.clockMhz} MHz, one core`,
      `${(weightBytes / 1048576).toFixed(1)} MB of weights per token at ${profile.memory.bandwidthMbPerS} MB/s memory bandwidth`,
      ...(readPerToken > 0 ? [`${(readPerToken / 1048576).toFixed(1)} MB read from disk per token at ${profile.memory.diskMbPerS} MB/s, not overlapped with compute`] : []),
      e.why,
    ],
  };
}
