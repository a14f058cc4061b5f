import { randomBlob } from '../lib/blobs.js';
import { checkOutput, createHitFixture } from '../lib/hit-fixture.js';
import { recordCat } from '../lib/large-output.js';
import { nodeOfLine } from '../lib/node-line.js';
import { REPO } from '../lib/paths.js';
import { line } from '../lib/shell-line.js';
import { cleanEnv, expectSuccess, spawnMeasured } from '../lib/spawn.js';

// The 1 KB hit on Node 24 (npm's node@24, in a scratch folder) against that
// Node's own start-up: Node 24 starts faster than Node 20, so dcache's own
// work on a hit is a larger share. The entry is recorded once; every timed
// run of either side uses Node 24.
export const benchCase = {
  name: 'hit, 1 KB output, Node 24',
  baseline: '`node -e 0` (Node 24)',
  goal: 1.25,
  defaultRuns: 40,

  setup(build) {
    const node = nodeOfLine(24);
    const fixture = createHitFixture(build, { bytes: 1024, prefix: 'dcache-bench-node24-' });
    const replay = () => spawnMeasured(node, fixture.args, fixture.options);
    try {
      checkOutput('first replay on Node 24', fixture, replay());
      if (fixture.runs() !== 1) throw new Error('the first replay ran the command: the entry was not a hit');
    } catch (error) {
      fixture.cleanup();
      throw error;
    }
    return { node, fixture, replay, baselineOptions: { cwd: REPO, env: cleanEnv() } };
  },

  runA: ({ replay }) => replay(),
  runB: ({ node, baselineOptions }) => spawnMeasured(node, ['-e', '0'], baselineOptions),
  checkA: ({ fixture }, result) => checkOutput('dcache hit on Node 24', fixture, result),
  checkB: (_state, result) => expectSuccess('node -e 0 (Node 24)', result),

  verify({ fixture }) {
    const runs = fixture.runs();
    if (runs !== 1) throw new Error(`the command ran ${runs} times; expected 1 (recorded once, then only hits)`);
    return `command executed ${runs} time (the recording); every A run replayed the 1024-byte stdout on Node 24`;
  },

  teardown: ({ fixture }) => fixture.cleanup(),

  hyperfine: {
    rounds: 5,
    runs: 10,
    async setup(build) {
      const node = nodeOfLine(24);
      const blob = randomBlob(1024);
      const fixture = await recordCat(build, blob, 'dcache-hyperfine-node24-');
      return {
        a: `DCACHE_DIR=${line([fixture.cacheDir])} ${line([node, ...fixture.hitArgs])}`,
        b: line([node, '-e', '0']),
        cleanup: fixture.cleanup,
      };
    },
  },
};
