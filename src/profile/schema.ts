/** The shape of a target profile (targets/*.json), validated on load. */
import { z } from 'zod';
import { QUANT_NAMES, type QuantKind } from '../quant/kinds.js';

/** One value per quantization kind (quant/kinds.ts), every kind required. */
function perKind<T extends z.ZodTypeAny>(value: T) {
  return z.object(Object.fromEntries(QUANT_NAMES.map((k) => [k, value])) as Record<QuantKind, T>).strict();
}

/** Largest allowed |logit error| over the engine's top-k and relative L2 difference; 0 = bit for bit. */
const tolerance = z.object({ logit: z.number().nonnegative(), relL2: z.number().nonnegative() }).strict();

/** A kind's speed as measured on the machine: cycles per weight multiply-add, every cost of a token included. */
const measuredSpeed = z
  .object({
    cyclesPerMac: z.number().positive(),
    how: z.string().describe('what was run, where and when'),
  })
  .strict();

const run = z
  .object({
    emulator: z.string().describe('command that runs the binary here: qemu-ppc, wine, or "" to run it directly'),
    args: z.array(z.string()).default([]),
    package: z.string().optional().describe('Debian package(s) that provide the emulator'),
    env: z.record(z.string()).default({}),
  })
  .strict();

const check = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('pe-imports'),
      objdump: z.string().describe('the objdump that reads the binary; the allowlist is os.imports'),
    })
    .strict(),
]);

const crossBuild = z
  .object({
    id: z.string(),
    description: z.string(),
    compiler: z.string(),
    package: z.string().describe('Debian package(s) that provide the compiler'),
    flags: z.array(z.string()),
    libs: z.array(z.string()).default([]),
    output: z.string(),
    osFamily: z.string().optional().describe('platform shim for this build when it differs from the target OS (an emulated Linux stand-in)'),
    run: run.optional(),
    deploy: z.boolean().default(false).describe('the binary runs on the real machine itself, so deploy uploads it'),
    checks: z.array(check).default([]),
  })
  .strict();

const nativeToolchain = z
  .object({
    id: z.string(),
    name: z.string(),
    script: z.string().describe('a template of templates/build'),
    file: z.string().describe('name of the build script in the bundle'),
    cc: z.string(),
    flags: z.array(z.string()),
    libs: z.array(z.string()).default([]),
    outputFlag: z.string().describe('how this compiler names its output, e.g. "-o " or "-e"'),
    output: z.string(),
  })
  .strict();

/** A disk the model file can be on: what a streaming token's bytes and separate reads cost (retro plan). */
const diskModel = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    name: z.string(),
    mbPerS: z.number().positive().describe('sustained sequential read, MB/s'),
    msPerRead: z.number().nonnegative().describe('what each separate read costs before its data flows: seek and half a turn (a hard disk), command latency (flash)'),
    source: z.string().describe('where these figures come from'),
  })
  .strict();

export type DiskModel = z.infer<typeof diskModel>;

/**
 * The disk plan assumes for a profile that describes none (a person describing a machine may not
 * know it): a late-1990s 5400 rpm IDE/ATA disk, the slowest a machine retro targets is likely to
 * have, so the estimate errs low. The name says it is a guess.
 */
export const GUESSED_DISK = {
  id: 'guessed',
  name: 'disk not described in the profile: a late-1990s 5400 rpm IDE/ATA disk assumed',
  mbPerS: 10,
  msPerRead: 15,
  source: 'a stated guess (10 MB/s sustained, 9.5 ms seek + 5.6 ms half a turn per read); describe the real disk in the profile ("disk")',
  alternatives: [],
};

export const profileSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    name: z.string(),
    abstract: z.boolean().default(false),
    cpu: z
      .object({
        arch: z.enum(['x86', 'x86_64', 'powerpc', 'powerpc64', 'arm', 'aarch64', 'm68k', 'mips']),
        family: z.string(),
        clockMhz: z.number().positive(),
        cores: z.number().int().positive(),
        threads: z.number().int().positive(),
        byteOrder: z.enum(['little', 'big']),
        wordBits: z.union([z.literal(16), z.literal(32), z.literal(64)]),
        fpu: z.string(),
        fpuControl: z.string().optional().describe('an FPU that keeps wider intermediates unless its precision control is set: the engine sets it to single (templates/fpu/<fpuControl>.c.ejs)'),
        simd: z.array(z.string()).describe('SIMD families with a kernel in templates/kernels, best first'),
      })
      .strict(),
    memory: z
      .object({
        ramMb: z.number().positive().describe('MB of RAM; "this-machine" (read when the profile loads) for the computer retro runs on'),
        osReservedMb: z.number().nonnegative(),
        addressSpaceMb: z.number().positive(),
        bandwidthMbPerS: z.number().positive(),
      })
      .strict(),
    disk: diskModel
      .extend({ alternatives: z.array(diskModel).default([]).describe('other disks the machine can read the model from (retro plan --disk <id>)') })
      .strict()
      .default(GUESSED_DISK)
      .describe('the disk the model file is on by default (without one, GUESSED_DISK, said as a guess)'),
    os: z
      .object({
        name: z.string(),
        family: z.string().describe('a folder of templates/os'),
        fileNames: z.enum(['posix', '8.3']),
        lineEndings: z.enum(['lf', 'crlf']),
        imports: z.record(z.array(z.string())).optional().describe('DLL name -> functions the OS has: what a binary for it may import'),
      })
      .strict(),
    alignment: z.number().int().refine((n) => n >= 8 && (n & (n - 1)) === 0, 'a power of two, at least 8'),
    toolchains: z.array(nativeToolchain),
    cross: z.array(crossBuild),
    verify: z
      .object({
        ...perKind(tolerance).shape,
        simd: perKind(tolerance).partial().strict().optional().describe('SIMD kernels that fuse multiply-add or sum in another order: their own tolerance (the scalar kernel always runs next to them, with the tolerance above)'),
        why: z.string().describe('why this target may differ from the reference at all'),
      })
      .strict(),
    estimate: z
      .object({
        instructionsPerMac: perKind(z.number().positive()).optional().describe('engine instructions per weight multiply-add, default kernels'),
        cyclesPerInstruction: z.number().positive().optional(),
        why: z.string().optional().describe('where these numbers come from'),
        measured: z
          .object(Object.fromEntries(QUANT_NAMES.map((k) => [k, measuredSpeed])) as Record<QuantKind, typeof measuredSpeed>)
          .partial()
          .strict()
          .optional()
          .describe('written by retro calibrate (or a bench): what a token of this kind took on the machine; used before the figures above'),
      })
      .strict()
      .superRefine((e, ctx) => {
        const given = [e.instructionsPerMac, e.cyclesPerInstruction, e.why].filter((x) => x !== undefined).length;
        if (given !== 0 && given !== 3) {
          const missing = (['instructionsPerMac', 'cyclesPerInstruction', 'why'] as const).find((k) => e[k] === undefined)!;
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: [missing], message: 'instructionsPerMac, cyclesPerInstruction and why go together (or leave all three out: plan then guesses by CPU family)' });
        }
      })
      .optional()
      .describe('speed figures; without them plan says "not calibrated" and guesses by CPU family (plan/estimate.ts); retro calibrate measures them'),
    transfer: z
      .object({
        protocol: z.string(),
        remoteDir: z.string(),
        port: z.number().int().positive().optional(),
      })
      .strict(),
  })
  .strict();

export type Profile = z.infer<typeof profileSchema>;
export type CrossBuild = Profile['cross'][number];
export type NativeToolchain = Profile['toolchains'][number];
export type ImportCheck = CrossBuild['checks'][number];

/** The RAM a program may use on the machine: what the OS leaves, within the address space. */
export function usableMb(profile: Profile): number {
  return Math.min(profile.memory.ramMb - profile.memory.osReservedMb, profile.memory.addressSpaceMb);
}

/** Left out of the engine's default RAM budget for its code, C library and stack. */
export const codeReserveMb = 2;
