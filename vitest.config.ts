import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Tests spawn real processes and share one Temporal dev server; two files at a time suit a 2-core machine.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default'],
  },
});
