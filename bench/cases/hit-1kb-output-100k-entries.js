import { generatedStore, MANY_ENTRIES } from '../lib/big-store.js';
import { checkOutput, createHitFixture } from '../lib/hit-fixture.js';

// A hit with 1 KB of output in a cache of 100,000 entries against the same
// hit in a cache of 10: a hit reads one manifest, whatever else the cache
// holds. The goal: no slower (within 10 %).
export const benchCase = {
  name: 'hit, 1 KB output, 100,000 entries',
  baseline: 'the same hit, 10 entries',
  goal: 1.1,
  defaultRuns: 40,

  async setup(build) {
    const [many, few] = await Promise.all([generatedStore(build, MANY_ENTRIES), generatedStore(build, 9)]);
    const fixtures = [];
    try {
      for (const store of [many, few]) {
        const fixture = createHitFixture(build, { bytes: 1024, cacheDir: store.cacheDir, prefix: 'dcache-bench-hit-many-' });
        fixtures.push(fixture);
        checkOutput('first replay', fixture, fixture.replay());
        if (fixture.runs() !== 1) throw new Error('the first replay ran the command: the entry was not a hit');
      }
    } catch (error) {
      for (const fixture of fixtures) fixture.cleanup();
      throw error;
    }
    return { many: fixtures[0], few: fixtures[1] };
  },

  runA: ({ many }) => many.replay(),
  runB: ({ few }) => few.replay(),
  checkA: ({ many }, result) => checkOutput('hit among 100,000 entries', many, result),
  checkB: ({ few }, result) => checkOutput('hit among 10 entries', few, result),

  verify({ many, few }) {
    for (const fixture of [many, few]) {
      if (fixture.runs() !== 1) throw new Error(`a command ran ${fixture.runs()} times; expected 1 (recorded once, then only hits)`);
    }
    return 'each command executed once (the recording); every A and B run replayed its 1024-byte stdout';
  },

  teardown({ many, few }) {
    many.cleanup();
    few.cleanup();
  },
};
