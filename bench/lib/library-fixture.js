import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, expectSuccess, spawnNode } from './spawn.js';

// A program that imports the library and calls a cached function once,
// for the case "library: import + one hit" and its outside check: the
// rows a data script might load once a day.
export const ROWS = 100;

// The program, its cache and its counter in a temp directory; the entry
// recorded once. `runs()` proves that every later call was a hit.
// `build` is the snapshot of the package to import (bench/lib/snapshot.js).
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

// Throws unless a call printed the number of rows and nothing on stderr.
export function checkRows(label, result) {
  expectSuccess(label, result);
  if (result.stdout.toString() !== String(ROWS)) throw new Error(`${label}: printed '${result.stdout}', not ${ROWS}`);
  if (result.stderr.length > 0) throw new Error(`${label}: unexpected stderr: ${result.stderr.toString().trim()}`);
}
