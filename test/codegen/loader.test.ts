/**
 * The engine trusts no model file and no argument (issue 12): real converted models with a few
 * bytes changed, replayed against the engine built with AddressSanitizer and UBSan on the host,
 * as a 32-bit i386 build under qemu and as a big-endian PowerPC build under qemu. Every one must
 * end in one line naming the field, exit 1, print nothing on stdout and trip no sanitizer.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { renderEngine } from '../../src/codegen/render.js';
import { runBuild } from '../../src/core/build.js';
import { loadProfile } from '../../src/profile/load.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { ENTRY, HEADER, RtrFile } from '../helpers/rtr.js';
import { needTools, toolsProblem } from '../helpers/tools.js';

const dir = tempDir('retro-loader-');
const ONE_LINE = /^retro: [^\n]*\(fix: [^\n]*\)\n$/;

interface Mutation {
  name: string;
  base: 'f32' | 'q8';
  edit: (f: RtrFile) => void;
  expect: RegExp;
}

const entryField = (f: RtrFile, name: string, field: keyof typeof ENTRY) => f.entry(f.find(name), field);

export const MUTATIONS: Mutation[] = [
  { name: 'q8 header group size 32 -> 4096', base: 'q8', edit: (f) => f.setU32(HEADER.groupSize, 4096), expect: /tensor 0 \(token_embedding\) group size is not the header's/ },
  {
    name: 'an f32 entry relabelled q8 with group size 1 (byte counts to match)',
    base: 'f32',
    edit: (f) => {
      const i = f.find('wq');
      const n = f.u32(f.entry(i, 'rows')) * f.u32(f.entry(i, 'cols'));
      f.setU32(f.entry(i, 'kind'), 1).setU32(f.entry(i, 'groupSize'), 1).setU32(f.entry(i, 'dataBytes'), n).setU32(f.entry(i, 'scaleBytes'), n * 4);
      f.setU32(f.entry(i, 'scaleOffset'), f.u32(f.entry(i, 'dataOffset')) + n);
    },
    expect: /tensor 2 \(wq\) kind is not f32/,
  },
  { name: 'a q8 entry relabelled q4', base: 'q8', edit: (f) => f.setU32(entryField(f, 'w1', 'kind'), 2), expect: /tensor 7 \(w1\) kind is not the header's quantization/ },
  { name: 'a tensor offset moved elsewhere inside the file', base: 'q8', edit: (f) => f.setU32(entryField(f, 'wk', 'dataOffset'), f.u32(entryField(f, 'w1', 'dataOffset'))), expect: /tensor 3 \(wk\) data is not where the layout puts it/ },
  { name: 'scales moved onto the next tensor', base: 'q8', edit: (f) => f.setU32(entryField(f, 'wq', 'scaleOffset'), f.u32(entryField(f, 'wk', 'dataOffset'))), expect: /tensor 2 \(wq\) scales is not where the layout puts it/ },
  { name: 'an unaligned offset', base: 'f32', edit: (f) => f.setU32(entryField(f, 'wq', 'dataOffset'), f.u32(entryField(f, 'wq', 'dataOffset')) + 4), expect: /tensor 2 \(wq\) data is not where the layout puts it/ },
  { name: 'an offset >= 2^31', base: 'f32', edit: (f) => f.setU32(entryField(f, 'wv', 'dataOffset'), 0x80000000 + f.u32(entryField(f, 'wv', 'dataOffset'))), expect: /tensor 4 \(wv\) data is not where the layout puts it/ },
  { name: 'data bytes larger than the shape', base: 'f32', edit: (f) => f.setU32(entryField(f, 'wo', 'dataBytes'), f.u32(entryField(f, 'wo', 'dataBytes')) + 16), expect: /tensor 5 \(wo\) data bytes do not match its shape/ },
  { name: 'rows near 2^32', base: 'q8', edit: (f) => f.setU32(entryField(f, 'wq', 'rows'), 0xfffffff0), expect: /tensor 2 \(wq\) rows do not match the header/ },
  { name: 'vocabulary under 259', base: 'f32', edit: (f) => f.setU32(HEADER.vocabSize, 258), expect: /header field vocab_size is not in 259\.\.2097152/ },
  { name: 'RMSNorm epsilon NaN', base: 'f32', edit: (f) => f.setF32(HEADER.eps, NaN), expect: /header field rms epsilon is not a finite positive number/ },
  { name: 'RMSNorm epsilon inf', base: 'q8', edit: (f) => f.setF32(HEADER.eps, Infinity), expect: /header field rms epsilon/ },
  { name: 'RMSNorm epsilon negative', base: 'f32', edit: (f) => f.setF32(HEADER.eps, -1e-5), expect: /header field rms epsilon/ },
  { name: 'RoPE theta NaN', base: 'q8', edit: (f) => f.setF32(HEADER.theta, NaN), expect: /header field rope theta/ },
  { name: 'group size near 2^31', base: 'q8', edit: (f) => f.setU32(HEADER.groupSize, 0x7ffffff0), expect: /header field group size/ },
  { name: 'BOS id >= vocab', base: 'f32', edit: (f) => f.setU32(HEADER.bos, f.u32(HEADER.vocabSize)), expect: /header field BOS id/ },
  { name: 'file size field >= 2^31', base: 'f32', edit: (f) => f.setU32(HEADER.fileSize, 0x80000010), expect: /header field file size is 2 GB or more/ },
  { name: 'alignment changed', base: 'q8', edit: (f) => f.setU32(HEADER.alignment, 4), expect: /header field alignment/ },
  { name: 'tensor count changed', base: 'q8', edit: (f) => f.setU32(HEADER.count, f.u32(HEADER.count) + 1), expect: /header field tensor count/ },
  { name: 'a tokenizer score NaN', base: 'f32', edit: (f) => f.setF32(f.u32(HEADER.tokOffset), NaN), expect: /tokenizer score is not a finite number/ },
  // Issue 27: non-finite values where the engine can check them cheaply, before they turn every logit into NaN.
  { name: 'a NaN RMSNorm weight', base: 'f32', edit: (f) => f.setF32(f.u32(entryField(f, 'rms_att', 'dataOffset')) + 12, NaN), expect: /rms_att holds a NaN or infinite value/ },
  { name: 'an infinite final RMSNorm weight', base: 'q8', edit: (f) => f.setF32(f.u32(entryField(f, 'rms_final', 'dataOffset')), -Infinity), expect: /rms_final holds a NaN or infinite value/ },
  { name: 'a NaN in the RoPE cos table', base: 'f32', edit: (f) => f.setF32(f.u32(entryField(f, 'rope_cos', 'dataOffset')) + 40, NaN), expect: /rope_cos holds a NaN or infinite value/ },
  { name: 'an infinite RoPE sin', base: 'q8', edit: (f) => f.setF32(f.u32(entryField(f, 'rope_sin', 'dataOffset')) + 4, Infinity), expect: /rope_sin holds a NaN or infinite value/ },
  { name: 'a NaN q8 scale in a layer matrix', base: 'q8', edit: (f) => f.setF32(f.u32(entryField(f, 'w2', 'scaleOffset')) + 8, NaN), expect: /layer holds a NaN or infinite value/ },
];

interface Engine {
  name: string;
  target: string;
  family: 'posix';
  compile: (src: string, out: string) => string[];
  run: (bin: string) => [string, string[]];
  tools: string[];
}

const ENGINES: Engine[] = [
  {
    name: 'host, AddressSanitizer + UBSan',
    target: 'host',
    family: 'posix',
    tools: ['gcc'],
    compile: (src, out) => ['gcc', '-std=c89', '-g', '-O1', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-o', out, src, '-lm', '-lpthread'],
    run: (bin) => [bin, []],
  },
  {
    name: 'i386 (32-bit size_t and long) under qemu',
    target: 'win98-pentium2',
    family: 'posix',
    tools: ['i686-linux-gnu-gcc', 'qemu-i386'],
    compile: (src, out) => ['i686-linux-gnu-gcc', '-std=c89', '-O2', '-march=pentium2', '-mmmx', '-mno-sse', '-static', '-o', out, src, '-lm', '-lpthread'],
    run: (bin) => ['qemu-i386', ['-cpu', 'pentium2', bin]],
  },
  {
    name: 'big-endian PowerPC G4 under qemu',
    target: 'powerbook-g4',
    family: 'posix',
    tools: ['powerpc-linux-gnu-gcc', 'qemu-ppc'],
    compile: (src, out) => ['powerpc-linux-gnu-gcc', '-std=c89', '-O2', '-mcpu=7450', '-maltivec', '-static', '-o', out, src, '-lm', '-lpthread'],
    run: (bin) => ['qemu-ppc', ['-cpu', '7447a', bin]],
  },
];

function sh(argv: string[]): void {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

for (const eng of ENGINES) {
  describe(`the ${eng.name} engine refuses hostile model files`, () => {
    const files: Record<'f32' | 'q8', string> = { f32: '', q8: '' };
    let bin = '';
    const exec = (args: string[], stdout?: number) => {
      const [cmd, pre] = eng.run(bin);
      return spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', stdout ?? 'pipe', 'pipe'] });
    };

    beforeEach((ctx) => needTools(ctx, ...eng.tools));
    beforeAll(async () => {
      if (toolsProblem(...eng.tools)) return;
      const tdir = join(dir, eng.target);
      for (const quant of ['f32', 'q8'] as const) {
        const b = await runBuild({ target: eng.target, model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant, groupSize: 32, out: join(tdir, quant), compile: false });
        files[quant] = join(b.out, 'model.rtr');
      }
      const src = join(tdir, 'retro.c');
      writeFileSync(src, renderEngine(loadProfile(eng.target), { osFamily: eng.family }));
      bin = join(tdir, 'engine');
      sh(eng.compile(src, bin));
    }, 300_000);

    it('runs the unchanged files (the checks pass a good file)', () => {
      for (const quant of ['f32', 'q8'] as const) {
        for (const s of ['0', '1']) {
          const r = exec([files[quant], '-t', '0', '-n', '8', '-i', ONCE, '-S', s]);
          expect(r.status, `${quant} -S ${s}: ${r.stderr}`).toBe(0);
          expect(r.stdout).toMatch(/^Once upon a time/);
        }
      }
    });

    it('every mutated file: exit 1, one line naming the field, no sanitizer report, in RAM and streamed', () => {
      for (const m of MUTATIONS) {
        const f = new RtrFile(readFileSync(files[m.base]));
        m.edit(f);
        const path = join(dir, `${eng.target}-mutated.rtr`);
        writeFileSync(path, f.buf);
        for (const s of ['0', '1']) {
          const r = exec([path, '-t', '0', '-n', '8', '-i', ONCE, '-S', s]);
          expect(r.stderr, `${m.name} -S ${s}`).toMatch(ONE_LINE);
          expect(r.stderr, `${m.name} -S ${s}`).toMatch(m.expect);
          expect(r.status, `${m.name} -S ${s}`).toBe(1);
          expect(r.stdout, m.name).toBe('');
        }
      }
    });

    it('bad arguments: one line naming the flag, exit 1', () => {
      for (const [args, want] of [
        [['-n', 'abc'], /^retro: -n abc: not a whole number/],
        [['-n', '-3'], /^retro: -n -3: not a whole number/],
        [['-t', 'nan'], /^retro: -t nan: not a finite number/],
        [['-p', 'nan'], /^retro: -p nan: not a finite number/],
        [['-t', 'inf'], /^retro: -t inf: not a finite number/],
        [['-B', '12MB'], /^retro: -B 12MB: not a finite number/],
        [['-S', '2'], /^retro: -S 2: not a whole number in 0\.\.1/],
        // Issue 27: outside the ranges the usage gives, refused instead of clamped.
        [['-t', '-1'], /^retro: -t -1: not a temperature in \[0,inf\]/],
        [['-p', '2'], /^retro: -p 2: not a top-p in \[0,1\]/],
        [['-p', '-0.5'], /^retro: -p -0\.5: not a top-p in \[0,1\]/],
        [['-B', '-1'], /^retro: -B -1: not a RAM budget in \[0,inf\] MB/],
        [['-j', '0'], /^retro: -j 0: not a whole number in 1\.\.1024/],
        [['-K', 'fast'], /^retro: -K fast: not simd or scalar/],
        [['-x', '1'], /^retro: -x: unknown option/],
        [['-n'], /^retro: -n: needs a value/],
      ] as const) {
        const r = exec([files.f32, ...args]);
        expect(r.stderr, args.join(' ')).toMatch(want);
        expect(r.stderr, args.join(' ')).toMatch(ONE_LINE);
        expect(r.status, args.join(' ')).toBe(1);
      }
    });

    it('write errors on the trace and on stdout are errors', () => {
      const t = exec([files.f32, '-t', '0', '-n', '4', '-i', ONCE, '-T', '/dev/full']);
      expect(t.stderr).toMatch(/retro: cannot write trace file: \/dev\/full/);
      expect(t.status).toBe(1);
      const full = openSync('/dev/full', 'w');
      try {
        const o = exec([files.f32, '-t', '0', '-n', '4', '-i', ONCE], full);
        expect(o.stderr).toMatch(/retro: cannot write the output: stdout/);
        expect(o.status).toBe(1);
      } finally {
        closeSync(full);
      }
    });
  });
}
