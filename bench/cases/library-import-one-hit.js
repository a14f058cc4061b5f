import { join } from 'node:path';
import { checkRows, createLibraryFixture, ROWS } from '../lib/library-fixture.js';
import { REPO } from '../lib/paths.js';
import { line, withCache } from '../lib/shell-line.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';

// A program that imports the library and calls a cached function once, a
// hit (100 rows back), against Node's own start-up: what `import { cached }
// from 'dcache'` costs a script that runs once a day, as the CLI's 1 KB hit
// is measured against the same floor.
export const benchCase = {
  name: 'library: import + one hit',
  baseline: '`node -e 0`',
  goal: 1.15,
  defaultRuns: 40,

  setup(build) {
    return { fixture: createLibraryFixture(build), baselineOptions: { cwd: REPO, env: cleanEnv() } };
  },

  runA: ({ fixture }) => fixture.call(),
  runB: ({ baselineOptions }) => spawnNode(['-e', '0'], baselineOptions),
  checkA: (_state, result) => checkRows('import + hit', result),
  checkB: (_state, result) => expectSuccess('node -e 0', result),

  verify({ fixture }) {
    const runs = fixture.runs();
    if (runs !== 1) throw new Error(`the function ran ${runs} times; expected 1 (recorded once, then only hits)`);
    return `function called ${runs} time (the recording); every A run imported the library and got the ${ROWS} rows from the cache`;
  },

  teardown: ({ fixture }) => fixture.cleanup(),

  hyperfine: {
    rounds: 5,
    runs: 10,
    setup(build) {
      const fixture = createLibraryFixture(build, 'dcache-hyperfine-library-');
      return {
        a: withCache(join(fixture.root, 'cache'), [fixture.program]),
        b: line([process.execPath, '-e', '0']),
        check() {
          if (fixture.runs() !== 1) throw new Error('the function ran again: a call was not a hit');
        },
        cleanup: fixture.cleanup,
      };
    },
  },
};
