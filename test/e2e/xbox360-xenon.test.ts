import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { shapeConfig, syntheticTokenizer, writeSyntheticV0 } from '../../src/model/synthetic.js';
import { runBinary } from '../../src/toolchain/tools.js';
import { targetEndToEnd } from '../helpers/e2e.js';
import { ONCE, tempDir } from '../helpers/fixtures.js';
import { needTools } from '../helpers/tools.js';
import { targetVerify } from '../helpers/verify.js';

describe('xbox360-xenon end to end', () => {
  targetEndToEnd('xbox360-xenon', { target: 'win98-pentium2', file: 'model.rtr' });
  targetVerify('xbox360-xenon');

  // The 15M shape: its matrices are large enough to be split across threads.
  it('threads: six by default (3 cores x 2), and the trace is the same byte for byte with one', async (ctx) => {
    needTools(ctx, 'powerpc64-linux-gnu-gcc', 'qemu-ppc64');
    const dir = tempDir();
    writeSyntheticV0(join(dir, 'm15.bin'), { config: shapeConfig('15M'), sharedClassifier: true, seed: 3 });
    writeFileSync(join(dir, 'tok.bin'), syntheticTokenizer(32000));
    const b = await runBuild({ target: 'xbox360-xenon', model: join(dir, 'm15.bin'), tokenizer: join(dir, 'tok.bin'), quant: 'q8', groupSize: 32, out: join(dir, 'x'), compile: true });
    const build = b.profile.cross.find((c) => c.id === 'linux-ppc64-970')!;
    const traces: string[] = [];
    for (const j of ['6', '1']) {
      const r = await runBinary(build, join(b.out, build.output), ['model.rtr', '-t', '0', '-s', '1', '-n', '12', '-i', ONCE, '-v', '1', '-j', j, '-T', `t${j}.txt`], { cwd: b.out });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`kernels: altivec, ${j} thread`));
      // every line but the closing wall-clock "# achieved tok/s", which is a measurement
      traces.push(readFileSync(join(b.out, `t${j}.txt`), 'latin1').replace(/^# achieved tok\/s.*\n?/m, ''));
    }
    expect(traces[0].split('\n').length).toBeGreaterThan(12);
    expect(traces[0]).toBe(traces[1]);
    const dflt = await runBinary(build, join(b.out, build.output), ['model.rtr', '-n', '2', '-v', '1'], { cwd: b.out });
    expect(dflt.stderr).toMatch(/6 threads/);
  });
});
