import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';

// A program that imports the library and calls a cached function once, a
// hit (100 rows back), against Node's own start-up: what `import { cached }
// from 'dcache'` costs a script that runs once a day, as the CLI's 1 KB hit
// is measured against the same floor.
export const ROWS = 100;

// The program, its cache and its counter in a temp directory; the entry
// recorded once. `runs()` proves that every later call was a hit.
export function createLibraryFixture(build, prefix = 'dcache-bench-library-') {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const counter = join(root, 'runs');
  const program = join(root, 'program.mjs');
  writeFileSync(counter, '');
  writeFileSync(
    program,
    `import { appendFileSync } from 'node:fs';
import { cached } from ${JSON.stringify(join(build.dist, 'index.js'))};
const loadRows = cached(async function loadRows(customer) {
  appendFileSync(${JSON.stringify(counter)}, 'ran\\n');
  return Array.from({ length: ${ROWS} }, (_, id) => ({ id, customer, name: 'row ' + id }));
});
const rows = await loadRows('acme');
process.stdout.write(String(rows.length));
`,
  );
  const env = cleanEnv({ DCACHE_DIR: join(root, 'cache') });
  const fixture = {
    root,
    program,
    env,
    runs: () => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length,
    call: () => spawnNode([program], { cwd: root, env }),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
  try {
    checkRows('recording the entry', fixture.call());
    if (fixture.runs() !== 1) throw new Error(`recording the entry ran the function ${fixture.runs()} times, not once`);
  } catch (error) {
    fixture.cleanup();
    throw error;
  }
  return fixture;
}

export function checkRows(label, result) {
  expectSuccess(label, result);
  if (result.stdout.toString() !== String(ROWS)) throw new Error(`${label}: printed '${result.stdout}', not ${ROWS}`);
  if (result.stderr.length > 0) throw new Error(`${label}: unexpected stderr: ${result.stderr.toString().trim()}`);
}

export const libraryHit = {
  name: 'library: import + one hit',
  baseline: 'node -e 0',
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
};
