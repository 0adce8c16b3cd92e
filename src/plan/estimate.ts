/**
 * A tok/s estimate for a target from its profile: compute time from multiply-adds and the cycles
 * each takes (measured on the machine by retro calibrate, else instructions per multiply-add x
 * cycles per instruction from the profile, else a stated guess by CPU family); memory time from
 * the weight bytes a token touches and the memory bandwidth; disk time for what streaming reads:
 * its bytes at the disk's sustained rate plus its separate reads at the disk's time per read.
 * An estimate, never a measurement.
 */
import type { DiskModel, Profile } from '../profile/schema.js';
import type { QuantKind } from '../quant/kinds.js';

export interface Estimate {
  tokensPerSecond: number;
  bound: 'compute' | 'memory' | 'disk';
  /** disk = transfer (bytes / MB/s) + seek (reads x time per read) */
  seconds: { compute: number; memory: number; disk: number; transfer: number; seek: number };
  /** Where the cycles per multiply-add came from: measured on the machine, the profile's figures, or a guess by CPU family. */
  source: 'measured' | 'profile' | 'guess';
  /** The figures were measured on the machine (retro calibrate); false: "not calibrated". */
  calibrated: boolean;
  assumptions: string[];
}

/** Instructions per multiply-add and cycles per instruction for one CPU family, and where they come from. */
interface FamilyGuess {
  family: string;
  instructionsPerMac: Record<QuantKind, number>;
  cyclesPerInstruction: number;
  source: string;
}

const PPC_CPI = 'cycles per instruction from the published 0.77 tok/s of llama2.c (110M) on a 1.5 GHz PowerBook G4';
const X86_CPI = 'cycles per instruction from the published 1.03 tok/s of llama2.c (15M) on a Pentium II 350 MHz';
const COUNTED = 'instructions per multiply-add counted by npm run bench:instructions on the 15M shape (README, 2026-12-06)';

/**
 * The guesses for a profile without speed figures: the engine's own instruction counts on the
 * emulated stand-ins of the machines retro has figures for, with the cycles per instruction those
 * machines' published llama2.c speeds imply. q4 on the scalar kernel was not counted: q8's scalar
 * figure stands in (q4 unpacks nibbles on top of q8's work, so it is if anything optimistic).
 */
const GUESSES: Record<string, FamilyGuess> = {
  'powerpc-altivec': { family: 'PowerPC with AltiVec', instructionsPerMac: { f32: 1.01, q8: 0.66, q4: 0.7 }, cyclesPerInstruction: 3.2, source: `the PowerBook G4's: ${COUNTED} (AltiVec kernels, qemu-ppc -cpu 7447a); ${PPC_CPI}` },
  powerpc: { family: 'PowerPC without AltiVec', instructionsPerMac: { f32: 3.86, q8: 8.11, q4: 8.11 }, cyclesPerInstruction: 3.2, source: `${COUNTED} (scalar kernels, qemu-ppc -cpu 7447a; q4 taken as q8's); ${PPC_CPI}` },
  'x86-mmx': { family: 'x86 with MMX', instructionsPerMac: { f32: 3.89, q8: 1.91, q4: 2.14 }, cyclesPerInstruction: 3.1, source: `the Pentium II's: ${COUNTED} (MMX kernels, qemu-i386 -cpu pentium2); ${X86_CPI}` },
  x86: { family: 'x86 without MMX', instructionsPerMac: { f32: 3.89, q8: 9.29, q4: 9.29 }, cyclesPerInstruction: 3.1, source: `${COUNTED} (scalar kernels, qemu-i386 -cpu pentium2; q4 taken as q8's); ${X86_CPI}` },
};

/** The guess for a CPU: by architecture and its best SIMD family; an architecture without figures gets the 32-bit PowerPC scalar ones, and says so. */
export function familyGuess(profile: Profile): FamilyGuess & { note?: string } {
  const arch = profile.cpu.arch;
  const simd = profile.cpu.simd;
  if (arch === 'powerpc' || arch === 'powerpc64') return GUESSES[simd.includes('altivec') ? 'powerpc-altivec' : 'powerpc'];
  if (arch === 'x86' || arch === 'x86_64') return GUESSES[simd.includes('mmx') ? 'x86-mmx' : 'x86'];
  return { ...GUESSES.powerpc, note: `no figures for ${arch}: a 32-bit RISC's (PowerPC scalar) taken instead` };
}

/** What a streaming token reads from the disk. */
export interface DiskReads {
  bytes: number;
  reads: number;
}

/** Cycles per weight multiply-add for a kind on a profile, with what they rest on. */
export function cyclesPerMac(profile: Profile, quant: QuantKind): { cycles: number; source: Estimate['source']; says: string } {
  const e = profile.estimate;
  const measured = e?.measured?.[quant];
  if (measured) return { cycles: measured.cyclesPerMac, source: 'measured', says: `${+measured.cyclesPerMac.toPrecision(4)} cycles per multiply-add for ${quant}, measured: ${measured.how}` };
  if (e?.instructionsPerMac && e.cyclesPerInstruction !== undefined) {
    const ipm = e.instructionsPerMac[quant];
    return { cycles: ipm * e.cyclesPerInstruction, source: 'profile', says: `${ipm} instructions per multiply-add x ${e.cyclesPerInstruction} cycles per instruction (${e.why})` };
  }
  const g = familyGuess(profile);
  const ipm = g.instructionsPerMac[quant];
  return {
    cycles: ipm * g.cyclesPerInstruction,
    source: 'guess',
    says: `not calibrated: a guess for ${g.family}${g.note ? ` (${g.note})` : ''}, ${ipm} instructions per multiply-add x ${g.cyclesPerInstruction} cycles per instruction, from ${g.source}; retro calibrate ${profile.id} measures this machine`,
  };
}

export function estimateSpeed(profile: Profile, quant: QuantKind, macs: number, weightBytes: number, read: DiskReads, disk: DiskModel = profile.disk): Estimate {
  const c = cyclesPerMac(profile, quant);
  const hz = profile.cpu.clockMhz * 1e6;
  const compute = (macs * c.cycles) / hz;
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
    source: c.source,
    calibrated: c.source === 'measured',
    assumptions: [
      `${(macs / 1e6).toFixed(1)} M multiply-adds per token x ${+c.cycles.toPrecision(4)} cycles each at ${profile.cpu.clockMhz} MHz, one core: ${compute.toPrecision(3)} s`,
      `${(weightBytes / 1048576).toFixed(1)} MB of weights per token at ${profile.memory.bandwidthMbPerS} MB/s memory bandwidth: ${memory.toPrecision(3)} s (overlaps compute)`,
      ...(read.bytes > 0
        ? [
            `${(read.bytes / 1048576).toFixed(1)} MB read per token from the ${disk.name} at ${disk.mbPerS} MB/s: ${transfer.toPrecision(3)} s, plus ${read.reads} separate reads x ${disk.msPerRead} ms: ${seek.toPrecision(3)} s; not overlapped with compute (${disk.source})`,
          ]
        : []),
      c.says,
    ],
  };
}
