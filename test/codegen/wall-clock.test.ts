/**
 * The engine's "achieved tok/s" is wall-clock time, as llama2.c's run prints it, not CPU time
 * (clock(), which leaves out time spent waiting and sums every thread). The host engine runs with
 * a preloaded fflush that sleeps 20 ms: the engine flushes once per token, so every token takes
 * at least 20 ms of wall time but hardly any more CPU time. A wall clock reports at most 50 tok/s;
 * CPU time would report thousands (stories260K takes well under a millisecond a token).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/core/build.js';
import { model, ONCE, tempDir } from '../helpers/fixtures.js';
import { haveTools } from '../helpers/tools.js';

const SLOW_FFLUSH = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>
int fflush(FILE *f) {
    static int (*real)(FILE *);
    struct timespec ts = {0, 20000000L};
    if (real == NULL) real = (int (*)(FILE *))dlsym(RTLD_NEXT, "fflush");
    if (f == stdout) nanosleep(&ts, NULL);
    return real(f);
}
`;

describe('wall-clock tok/s', () => {
  it.runIf(haveTools('gcc'))('the host engine counts time it spends waiting (a wall clock), over one thread and two', async () => {
    const dir = tempDir();
    const bundle = (await runBuild({ target: 'host', model: model('stories260K.bin'), tokenizer: model('tok512.bin'), quant: 'f32', groupSize: 32, out: join(dir, 'b'), compile: true })).out;
    writeFileSync(join(dir, 'slow.c'), SLOW_FFLUSH);
    execFileSync('gcc', ['-shared', '-fPIC', '-o', join(dir, 'slow.so'), join(dir, 'slow.c'), '-ldl']);
    for (const threads of ['1', '2']) {
      const r = spawnSync(join(bundle, 'retro'), ['model.rtr', '-t', '0', '-n', '40', '-i', ONCE, '-j', threads], { cwd: bundle, encoding: 'utf8', env: { ...process.env, LD_PRELOAD: join(dir, 'slow.so') } });
      expect(r.status, r.stderr).toBe(0);
      const tps = Number(/achieved tok\/s: ([\d.]+)/.exec(r.stderr)?.[1]);
      // Every token waited 20 ms in fflush: no more than 50 a second by a wall clock.
      expect(tps, `-j ${threads}`).toBeGreaterThan(0);
      expect(tps, `-j ${threads}`).toBeLessThanOrEqual(50);
    }
  });
});
