// The benchmark runner behind `npm run bench`: runs every case in
// bench/cases/index.js, A and B alternated, prints a table, takes a hit
// apart ("Where the time goes on a hit") and rewrites BENCHMARKS.md.
// Plain Node on purpose, so it runs on a fresh machine (no hyperfine).
import { writeFileSync } from 'node:fs';
import { cases } from './cases/index.js';
import { describeGeneratedStores, removeGeneratedStores } from './lib/big-store.js';
import { describeBlobs, removeBlobs } from './lib/blobs.js';
import { rebuildWithMaps } from './lib/bundles.js';
import { dissectHit } from './lib/hit-anatomy.js';
import { dissectLargeOutputs } from './lib/large-anatomy.js';
import { measurePairs } from './lib/pairs.js';
import { BENCHMARKS_MD } from './lib/paths.js';
import { describeBkt, describeMachine, renderMarkdown, renderTerminalTable, resultRows } from './lib/report.js';
import { snapshotRepo } from './lib/snapshot.js';
import { closeDevNull } from './lib/spawn.js';

const DEFAULT_WARMUP = 5;
const DEFAULT_PROFILE_RUNS = 30;
const PROFILE_INTERVAL_US = 100;
const DEFAULT_LARGE_ROUNDS = 5;
const LARGE_PROFILE_RUNS = 3;

function readCount(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a whole number of at least 1, not '${text}'`);
  }
  return value;
}

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
  const startedAt = new Date();
  const machine = describeMachine(startedAt);
  // undefined: each case's own default (defaultWarmup), else DEFAULT_WARMUP
  const warmup = readCount('BENCH_WARMUP', undefined);
  const runs = readCount('BENCH_RUNS', undefined);
  const profileRuns = readCount('BENCH_PROFILE_RUNS', DEFAULT_PROFILE_RUNS);
  const largeRounds = readCount('BENCH_LARGE_ROUNDS', DEFAULT_LARGE_ROUNDS);
  console.log(`dcache benchmarks: ${machine.cpu}, ${machine.memory}, Node ${machine.node}, ${machine.date}`);

  // The snapshot's sources rebuilt by the project's own build, with source
  // maps: used only to attribute profile samples and to bundle the probes.
  let rebuilt = null;
  try {
    rebuilt = rebuildWithMaps(sources, build.dist);
    if (!rebuilt.mapFor) console.log('(the rebuild with source maps differs from dist/: profile frames in dist/ will not be attributed)');
  } catch (error) {
    console.log(`(rebuilding with source maps failed, so no probes and no attribution: ${error.message})`);
  }

  // The cases get the snapshot's sources too: some bundle code from them.
  const target = { ...build, sources };
  const results = [];
  for (const benchCase of cases) {
    const paired = typeof benchCase.runB === 'function';
    process.stdout.write(paired ? `${benchCase.name} vs ${benchCase.baseline}: ` : `${benchCase.name}: `);
    const result = await runCase(benchCase, target, { runs, warmup });
    console.log(result.error ? `INVALID\n  ${result.error.stack}` : `${result.measured.runs} ${paired ? 'pairs' : 'runs'}`);
    results.push(result);
  }
  const stores = await describeGeneratedStores();
  const rows = resultRows(results, describeBkt(process.env));
  console.log(`\n${renderTerminalTable(rows)}\n`);

  process.stdout.write('Where the time goes on a hit: ladder, in-process clocks, CPU profiles… ');
  let anatomy = null;
  let anatomyError = null;
  try {
    anatomy = await dissectHit(build, rebuilt, {
      rounds: profileRuns,
      warmup: 2,
      profileRuns,
      profileIntervalUs: PROFILE_INTERVAL_US,
    });
    anatomy.command = 'dcache run -- /bin/sh -c \'echo ran >> "$1"; cat "$2"\' …';
    console.log('done');
    const signed = (value) => (value === null ? '' : ` (${value >= 0 ? '+' : ''}${value.toFixed(1)})`);
    console.log('  wall ms (over node -e 0) | in-process user code ms (over node -e 0) | command');
    for (const r of anatomy.ladder.rungs) {
      const wall = `${r.wallMs.toFixed(1)}${signed(r.wallOverFloorMs)}`;
      const inside = `${r.userPhaseMs.toFixed(1)}${signed(r.userOverFloorMs)}`;
      console.log(`  ${wall.padEnd(24)} | ${inside.padEnd(40)} | ${r.command.replaceAll('`', '')}`);
    }
  } catch (error) {
    anatomyError = error.message.split('\n')[0];
    console.log(`FAILED\n  ${error.stack}`);
  }

  // Where the time goes with large outputs: every such case that was
  // measured, so that a goal met or missed by a small margin can be read
  // against its parts too.
  const measuredNames = new Set(results.filter((r) => r.measured).map((r) => r.benchCase.name));
  const large = { sections: [], rounds: largeRounds, error: null };
  process.stdout.write('Where the time goes with large outputs: ladders, CPU profiles… ');
  try {
    large.sections = await dissectLargeOutputs(build, rebuilt, measuredNames, {
      rounds: largeRounds,
      profileRuns: LARGE_PROFILE_RUNS,
      profileIntervalUs: PROFILE_INTERVAL_US,
    });
    console.log(large.sections.length === 0 ? 'no large-output case was measured' : 'done');
  } catch (error) {
    large.error = error.message.split('\n')[0];
    console.log(`FAILED\n  ${error.stack}`);
  }

  const markdown = renderMarkdown({
    machine,
    settings: {
      warmup,
      defaultWarmup: DEFAULT_WARMUP,
      defaultProfileRuns: DEFAULT_PROFILE_RUNS,
      defaultLargeRounds: DEFAULT_LARGE_ROUNDS,
    },
    results,
    stores,
    blobs: describeBlobs(),
    rows,
    anatomy,
    anatomyError,
    large,
  });
  writeFileSync(BENCHMARKS_MD, markdown);
  console.log(`\nWrote ${BENCHMARKS_MD}`);
  if (results.some((r) => r.error) || anatomyError || large.error) process.exitCode = 1;
}

await main();
