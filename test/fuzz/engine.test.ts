/**
 * libFuzzer on the emitted engine's loader and forward pass (issue 12), bounded for CI:
 * RETRO_FUZZ_SECONDS (default 60). Seeds: stories260K converted for the host as f32, q8 and q4.
 * The run must end with no crash, no sanitizer report and no leak of file handles. bench/fuzz.sh
 * runs the same harness for longer and prints the numbers.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderEngine } from '../../src/codegen/render.js';
import { runBuild } from '../../src/core/build.js';
import { loadProfile } from '../../src/profile/load.js';
import { model, REPO, tempDir } from '../helpers/fixtures.js';
import { needTools } from '../helpers/tools.js';

const SECONDS = Number(process.env.RETRO_FUZZ_SECONDS ?? 60);

describe('libFuzzer on the engine', () => {
  it(`${SECONDS} s of fuzzing: no crash, no sanitizer report`, async (ctx) => {
    needTools(ctx, 'clang');
    const dir = tempDir('retro-libfuzzer-');
    const corpus = join(dir, 'corpus');
    mkdirSync(corpus);
    for (const quant of ['f32', 'q8', 'q4'] as const) {
      const b = await runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant, groupSize: 32, out: join(dir, quant), compile: false });
      copyFileSync(join(b.out, 'model.rtr'), join(corpus, `${quant}.rtr`));
    }
    const engine = join(dir, 'retro.c');
    writeFileSync(engine, renderEngine(loadProfile('host'), { osFamily: 'posix' }));
    const bin = join(dir, 'fuzz-engine');
    const cc = spawnSync('clang', ['-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined', `-DRT_ENGINE="${engine}"`, '-o', bin, join(REPO, 'test/fuzz/engine-harness.c'), '-lm', '-lpthread'], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    const r = spawnSync(bin, [`-max_total_time=${SECONDS}`, '-detect_leaks=0', '-rss_limit_mb=2048', '-timeout=20', `-artifact_prefix=${dir}/`, corpus], { encoding: 'utf8', cwd: dir, timeout: (SECONDS + 120) * 1000 });
    const log = `${r.stdout}${r.stderr}`;
    expect(log).not.toMatch(/ERROR: AddressSanitizer|runtime error:|deadly signal|ERROR: libFuzzer/);
    expect(r.status, log.slice(-3000)).toBe(0);
    const done = /Done (\d+) runs in (\d+) second/.exec(log);
    expect(done, log.slice(-2000)).not.toBeNull();
    expect(Number(done![1])).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((n) => /^(crash|leak|timeout|oom)-/.test(n))).toEqual([]);
    console.log(`libFuzzer: ${done![1]} runs in ${done![2]} s, corpus ${readdirSync(corpus).length} files`);
  }, (SECONDS + 300) * 1000);
});
