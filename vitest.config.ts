import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

// Three projects: unit tests run in parallel; integration tests create network namespaces, real TUN
// devices and real peers, so they run one file at a time (2-core machines, shared kernel state);
// renderer tests mount the Svelte UI in jsdom against a fake core transport (no network).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // Electron main's logic (test/main) is plain Node code with electron mocked at its edge.
          include: ['test/unit/**/*.test.ts', 'test/main/**/*.test.ts'],
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
      {
        plugins: [svelte({ configFile: false }), svelteTesting()],
        test: {
          name: 'renderer',
          include: ['test/renderer/**/*.test.ts'],
          environment: './test/renderer/jsdom-env.ts', // jsdom, loadable on Node 20 (see the file)
        },
      },
    ],
  },
});
