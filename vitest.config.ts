import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // installs the real servers and tools the tests use, where they are missing
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Most tests wait on child processes (dcache, servers), not on the CPU:
    // four files at a time keep two cores busy.
    maxWorkers: 4,
  },
});
