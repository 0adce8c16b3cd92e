/**
 * retro.cfg: an engine started with no arguments (XeLL, a double click) takes its options from
 * retro.cfg in its folder. The PowerBook G4 and Pentium II builds, under qemu, run from it alone
 * and write a trace that verifies against the reference.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { runVerify } from '../../src/core/verify.js';
import { loadProfile } from '../../src/profile/load.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { needTools } from '../helpers/tools.js';

const CASES = [
  { target: 'powerbook-g4', build: 'linux-ppc-g4', tools: ['powerpc-linux-gnu-gcc', 'qemu-ppc'] },
  { target: 'win98-pentium2', build: 'linux-i686-p2', tools: ['i686-linux-gnu-gcc', 'qemu-i386'] },
];

describe('retro.cfg: the engine started with no arguments', () => {
  for (const c of CASES) {
    it(`${c.target} (${c.build}, emulated): runs from retro.cfg alone and writes a trace that verifies`, async (ctx) => {
      needTools(ctx, ...c.tools);
      const dir = tempDir();
      const bundle = (await runBuild({ target: c.target, model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(dir, 'b'), compile: true })).out;
      const build = loadProfile(c.target).cross.find((b) => b.id === c.build)!;
      const at = join(dir, 'machine');
      mkdirSync(at);
      copyFileSync(join(bundle, 'model.rtr'), join(at, 'model.rtr'));
      // As a person would write it on Windows: CRLF, a comment, a prompt with spaces.
      writeFileSync(join(at, 'retro.cfg'), ['# options for a start without a command line', 'model model.rtr', '-t 0', '-n 20', `-i ${ONCE}`, '-T TRACE.TXT', ''].join('\r\n'));
      const r = await runBinary(build, join(bundle, build.output), [], { cwd: at });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.toString()).toMatch(/^Once upon a time/);
      const v = await runVerify({ target: c.target, bundle, quant: 'f32', groupSize: 32, modes: ['free'], steps: 20, prompt: new TextEncoder().encode(ONCE), temperature: 0, topp: 0.9, seed: 42n, trace: join(at, 'TRACE.TXT') });
      expect(v.pass).toBe(true);
      expect(v.runs[0].result.positions.length).toBe(20);
      expect(readFileSync(join(at, 'TRACE.TXT'), 'latin1')).toMatch(/^# retro-trace 1 target=\S+ mode=free temperature=0 /);

      // stdout and stderr in one pipe (as a terminal over SSH shows them): the story's last
      // newline comes out before the stats line, not after it.
      const merged = execFileSync('sh', ['-c', `${[build.run?.emulator, ...(build.run?.args ?? []), join(bundle, build.output)].filter(Boolean).join(' ')} 2>&1`], { cwd: at }).toString();
      expect(merged).toMatch(/[^\n]\nachieved tok\/s: [\d.]+\n$/);
      // A file that does not name the model first: one clear line, exit 1.
      writeFileSync(join(at, 'retro.cfg'), '-n 20\nmodel model.rtr\n');
      const bad = await runBinary(build, join(bundle, build.output), [], { cwd: at });
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr.toString().trim()).toBe('retro: the options file does not name the model first: retro.cfg (fix: make "model model.rtr" the first line)');
    });
  }
});
