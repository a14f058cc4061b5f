import { randomBlob } from '../lib/blobs.js';
import { checkOutput, createHitFixture } from '../lib/hit-fixture.js';
import { recordCat } from '../lib/large-output.js';
import { REPO } from '../lib/paths.js';
import { line, withCache } from '../lib/shell-line.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';

// A hit with a 1 KB stdout against Node's own start-up: the floor for any
// Node CLI. DESIGN.md principle 5 says a hit is bounded below by it.
export const benchCase = {
  name: 'hit, 1 KB output',
  baseline: '`node -e 0`',
  goal: 1.15,
  defaultRuns: 40,

  setup(build) {
    const fixture = createHitFixture(build, { bytes: 1024 });
    try {
      // Proves the entry is replayed before anything is timed.
      checkOutput('first replay', fixture, fixture.replay());
      if (fixture.runs() !== 1) throw new Error('the first replay ran the command: the entry was not a hit');
    } catch (error) {
      fixture.cleanup();
      throw error;
    }
    return { fixture, baselineOptions: { cwd: REPO, env: cleanEnv() } };
  },

  runA: ({ fixture }) => fixture.replay(),
  runB: ({ baselineOptions }) => spawnNode(['-e', '0'], baselineOptions),
  checkA: ({ fixture }, result) => checkOutput('dcache hit', fixture, result),
  checkB: (_state, result) => expectSuccess('node -e 0', result),

  // Every timed A was a hit: the command ran once, when it was recorded.
  verify({ fixture }) {
    const runs = fixture.runs();
    if (runs !== 1) throw new Error(`the command ran ${runs} times; expected 1 (recorded once, then only hits)`);
    return `command executed ${runs} time (the recording); every A run replayed the 1024-byte stdout`;
  },

  teardown: ({ fixture }) => fixture.cleanup(),

  hyperfine: {
    rounds: 5,
    runs: 10,
    async setup(build) {
      const blob = randomBlob(1024);
      const fixture = await recordCat(build, blob, 'dcache-hyperfine-small-');
      return {
        a: withCache(fixture.cacheDir, fixture.hitArgs),
        b: line([process.execPath, '-e', '0']),
        cleanup: fixture.cleanup,
      };
    },
  },
};
