// The benchmark runner behind `npm run bench`: runs every case in
// bench/cases/index.js, A and B alternated, prints a table and rewrites its
// rows of the current figures and its part of BENCHMARKS.md. Plain Node on
// purpose, so it runs on a fresh machine (no hyperfine). Where the time of a
// hit goes is bench/anatomy.js.
import { cases } from './cases/index.js';
import { describeGeneratedStores, removeGeneratedStores } from './lib/big-store.js';
import { writePart } from './lib/benchmarks-md.js';
import { describeBlobs, removeBlobs } from './lib/blobs.js';
import { writeCurrentFigures } from './lib/current-figures.js';
import { readCount } from './lib/env-counts.js';
import { describeMachine } from './lib/machine.js';
import { measurePairs } from './lib/pairs.js';
import { describeBkt, goalFigures, renderMarkdown, renderTerminalTable, resultRows } from './lib/report.js';
import { snapshotRepo } from './lib/snapshot.js';
import { closeDevNull } from './lib/spawn.js';

const DEFAULT_WARMUP = 5;

async function runCase(benchCase, build, { runs, warmup }) {
  let state;
  try {
    state = await benchCase.setup(build);
    const measured = await measurePairs(benchCase, state, {
      runs: runs ?? benchCase.defaultRuns,
      warmup: warmup ?? benchCase.defaultWarmup ?? DEFAULT_WARMUP,
    });
    const note = await benchCase.verify(state);
    return { benchCase, measured, note };
  } catch (error) {
    return { benchCase, error };
  } finally {
    if (state !== undefined) await benchCase.teardown?.(state);
  }
}

async function main() {
  const snapshot = snapshotRepo();
  process.once('SIGINT', () => {
    snapshot.cleanup();
    removeBlobs();
    void removeGeneratedStores().finally(() => process.exit(130));
  });
  try {
    await benchmark(snapshot);
  } finally {
    snapshot.cleanup();
    removeBlobs();
    closeDevNull();
    await removeGeneratedStores();
  }
}

async function benchmark({ build, sources }) {
  const machine = describeMachine(new Date());
  // undefined: each case's own default (defaultWarmup), else DEFAULT_WARMUP
  const warmup = readCount('BENCH_WARMUP', undefined);
  const runs = readCount('BENCH_RUNS', undefined);
  console.log(`dcache benchmarks: ${machine.cpu}, ${machine.memory}, Node ${machine.node}, ${machine.date}`);

  // The cases get the snapshot's sources too: the scale cases bundle the
  // store generator from them.
  const target = { ...build, sources };
  // BENCH_ONLY=text: only the cases whose name or baseline holds it, printed
  // and not written (BENCHMARKS.md holds whole runs only)
  const only = process.env.BENCH_ONLY;
  const chosen = only ? cases.filter((c) => `${c.name} ${c.baseline ?? ''}`.includes(only)) : cases;
  if (chosen.length === 0) throw new Error(`BENCH_ONLY='${only}' matches no case`);
  const results = [];
  for (const benchCase of chosen) {
    const paired = typeof benchCase.runB === 'function';
    process.stdout.write(paired ? `${benchCase.name} vs ${benchCase.baseline}: ` : `${benchCase.name}: `);
    const result = await runCase(benchCase, target, { runs, warmup });
    console.log(result.error ? `INVALID\n  ${result.error.stack}` : `${result.measured.runs} ${paired ? 'pairs' : 'runs'}`);
    results.push(result);
  }
  const stores = await describeGeneratedStores();
  const rows = resultRows(results, describeBkt(process.env));
  console.log(`\n${renderTerminalTable(rows)}\n`);

  const markdown = renderMarkdown({
    machine,
    settings: { warmup, defaultWarmup: DEFAULT_WARMUP },
    results,
    stores,
    blobs: describeBlobs(),
    rows,
  });
  if (only) console.log(`BENCH_ONLY is set: BENCHMARKS.md left as it was`);
  else {
    writePart('bench/run.js', markdown);
    console.log(`Wrote ${writeCurrentFigures('`npm run bench`', machine, goalFigures(results))}`);
  }
  if (results.some((r) => r.error)) process.exitCode = 1;
}

await main();
