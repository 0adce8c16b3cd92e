/**
 * A tok/s estimate for a target from its profile: compute time from multiply-adds, instructions
 * per multiply-add and cycles per instruction; memory time from the weight bytes a token touches
 * and the memory bandwidth; disk time for what streaming reads: its bytes at the disk's sustained
 * rate plus its separate reads at the disk's time per read. An estimate, never a measurement.
 */
import type { DiskModel, Profile } from '../profile/schema.js';
import type { QuantKind } from '../quant/kinds.js';

export interface Estimate {
  tokensPerSecond: number;
  bound: 'compute' | 'memory' | 'disk';
  /** disk = transfer (bytes / MB/s) + seek (reads x time per read) */
  seconds: { compute: number; memory: number; disk: number; transfer: number; seek: number };
  assumptions: string[];
}

/** What a streaming token reads from the disk. */
export interface DiskReads {
  bytes: number;
  reads: number;
}

export function estimateSpeed(profile: Profile, quant: QuantKind, macs: number, weightBytes: number, read: DiskReads, disk: DiskModel = profile.disk): Estimate {
  const e = profile.estimate;
  const ipm = e.instructionsPerMac[quant];
  const hz = profile.cpu.clockMhz * 1e6;
  const compute = (macs * ipm * e.cyclesPerInstruction) / hz;
  const memory = weightBytes / (profile.memory.bandwidthMbPerS * 1048576);
  const transfer = read.bytes / (disk.mbPerS * 1048576);
  const seek = (read.reads * disk.msPerRead) / 1000;
  // The engine reads synchronously: disk time adds to the rest; compute and memory overlap.
  const total = Math.max(compute, memory) + transfer + seek;
  const bound = transfer + seek > Math.max(compute, memory) ? 'disk' : compute >= memory ? 'compute' : 'memory';
  return {
    tokensPerSecond: 1 / total,
    bound,
    seconds: { compute, memory, disk: transfer + seek, transfer, seek },
    assumptions: [
      `${(macs / 1e6).toFixed(1)} M multiply-adds per token x ${ipm} instructions each x ${e.cyclesPerInstruction} cycles per instruction at ${profile.cpu.clockMhz} MHz, one core: ${compute.toPrecision(3)} s`,
      `${(weightBytes / 1048576).toFixed(1)} MB of weights per token at ${profile.memory.bandwidthMbPerS} MB/s memory bandwidth: ${memory.toPrecision(3)} s (overlaps compute)`,
      ...(read.bytes > 0
        ? [
            `${(read.bytes / 1048576).toFixed(1)} MB read per token from the ${disk.name} at ${disk.mbPerS} MB/s: ${transfer.toPrecision(3)} s, plus ${read.reads} separate reads x ${disk.msPerRead} ms: ${seek.toPrecision(3)} s; not overlapped with compute (${disk.source})`,
          ]
        : []),
      e.why,
    ],
  };
}
