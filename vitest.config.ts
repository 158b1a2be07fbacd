import { defineConfig } from 'vitest/config';

// Two projects: unit tests run in parallel; integration tests create network namespaces, real TUN
// devices and real peers, so they run one file at a time (2-core machines, shared kernel state).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
