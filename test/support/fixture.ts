import { test as base } from 'vitest';
import { Sandbox } from './sandbox.js';

export { afterAll, beforeAll, describe, expect, onTestFinished } from 'vitest';

// The test API of the end-to-end suite: every test that names `box` gets a
// sandbox of its own (a temp directory, its own DCACHE_DIR, a scrubbed
// environment), cleaned up after it with the processes it left running.
export const test = base.extend<{ box: Sandbox }>({
  // vitest reads what a fixture needs from its destructured first parameter: nothing here
  box: async ({}, use) => {
    const box = new Sandbox();
    try {
      await use(box);
    } finally {
      box.cleanup();
    }
  },
});

export const it = test;

// The hooks around each test see its fixtures too: beforeEach(({ box }) => ...).
export const beforeEach = test.beforeEach;
export const afterEach = test.afterEach;
