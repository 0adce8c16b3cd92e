import { defineConfig } from 'vitest/config';

// The files that start the loopback SSH and FTP servers share one throwaway user and fixed ports:
// they run one at a time. Everything else runs two files at once: most of the time goes to compilers
// and emulators in child processes, and vitest's default (cores - 1) leaves one of two cores idle.
const SERVERS = ['test/core/deploy.test.ts', 'test/transport/deploy.test.ts', 'test/core/calibrate.test.ts', 'test/core/serve.test.ts'];

export default defineConfig({
  test: {
    // A bound against a hang, not a speed check: two files share two cores, and a verify test runs
    // eight emulated engines.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'servers', include: SERVERS, maxWorkers: 1 } },
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: SERVERS, maxWorkers: 2 } },
    ],
  },
});
