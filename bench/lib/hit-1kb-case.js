import { randomBlob } from './blobs.js';
import { checkOutput, createHitFixture } from './hit-fixture.js';
import { recordCat } from './large-output.js';
import { REPO } from './paths.js';
import { line, withCache } from './shell-line.js';
import { cleanEnv, expectSuccess, spawnMeasured } from './spawn.js';

// The case of a hit with a 1 KB stdout against `node -e 0` of the same
// Node, for the runner and for hyperfine: `node()` is the binary both sides
// run (this Node by default, or one of npm's `node` packages), and
// `nodeName` names it in messages ("Node 24"). The entry is recorded once;
// every timed A must be a hit.
export function hit1kbCase({ name, baseline, goal, node = () => process.execPath, nodeName, prefix, hyperfinePrefix }) {
  const on = nodeName ? ` on ${nodeName}` : '';
  return {
    name,
    baseline,
    goal,
    defaultRuns: 40,

    setup(build) {
      const binary = node();
      const fixture = createHitFixture(build, { bytes: 1024, ...(prefix ? { prefix } : {}) });
      const replay = () => spawnMeasured(binary, fixture.args, fixture.options);
      try {
        // Proves the entry is replayed before anything is timed.
        checkOutput(`first replay${on}`, fixture, replay());
        if (fixture.runs() !== 1) throw new Error('the first replay ran the command: the entry was not a hit');
      } catch (error) {
        fixture.cleanup();
        throw error;
      }
      return { binary, fixture, replay, baselineOptions: { cwd: REPO, env: cleanEnv() } };
    },

    runA: ({ replay }) => replay(),
    runB: ({ binary, baselineOptions }) => spawnMeasured(binary, ['-e', '0'], baselineOptions),
    checkA: ({ fixture }, result) => checkOutput(`dcache hit${on}`, fixture, result),
    checkB: (_state, result) => expectSuccess(`node -e 0${nodeName ? ` (${nodeName})` : ''}`, result),

    // Every timed A was a hit: the command ran once, when it was recorded.
    verify({ fixture }) {
      const runs = fixture.runs();
      if (runs !== 1) throw new Error(`the command ran ${runs} times; expected 1 (recorded once, then only hits)`);
      return `command executed ${runs} time (the recording); every A run replayed the 1024-byte stdout${on}`;
    },

    teardown: ({ fixture }) => fixture.cleanup(),

    hyperfine: {
      rounds: 5,
      runs: 10,
      async setup(build) {
        const binary = node();
        const fixture = await recordCat(build, randomBlob(1024), hyperfinePrefix);
        return { a: withCache(fixture.cacheDir, fixture.hitArgs, binary), b: line([binary, '-e', '0']), cleanup: fixture.cleanup };
      },
    },
  };
}
