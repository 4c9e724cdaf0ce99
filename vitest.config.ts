import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Tests spawn real processes and share one Temporal dev server; two files at a time suit a 2-core machine.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'platform',
          include: ['test/**/*.test.ts'],
          exclude: ['test/k8s/**', 'test/unit/**'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
      {
        // Pure rules, no Temporal, no database: npm run test:unit runs them alone in well under a second.
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        // BOT_RUNTIME=kubernetes against a real control plane (npm run test:k8s runs only these).
        extends: true,
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts', 'test/k8s/cluster-setup.ts'],
        },
      },
    ],
  },
});
