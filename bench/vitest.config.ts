import { defineConfig } from 'vitest/config';

// Benchmarks that need TypeScript test helpers (the loopback servers) run through vitest's runner.
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    testTimeout: 600_000,
    pool: 'forks',
  },
});
