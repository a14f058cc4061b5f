// The outside check of bench/run.js, behind `npm run bench:hyperfine`: the
// cases whose figures users see (those of bench/cases/ with a `hyperfine`
// part: a small hit, a program's import of the library and one hit, a large
// hit into a pipe, a large recording, a large restore) timed by hyperfine
// rather than by our own runner, A and B alternated, and written to
// BENCHMARKS.md beside the runner's results. Every dcache run checks what
// it replays as any hit does (SHA-256, until a hit has found a blob right;
// then its check mark while the blob's file is unchanged): nothing is
// turned off for the benchmark.
//
// hyperfine runs all the runs of one command before the next, so each case
// is measured in rounds: one hyperfine call per round with A and B, A first
// in odd rounds and B first in even ones, a warm-up run each. Two ratios
// are given: the median of the per-round ratios (median A / median B of the
// round), and the median of every A run over the median of every B run; a
// goal is met only if both are within it (with few runs a round, one slow
// baseline run can pull a round's ratio down).
//
// A case may also time, in the same rounds, the same work done by C tools
// without dcache (its `floors`, F): where F/B is over a goal, that
// guarantee alone puts the goal out of reach on this machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cases } from './cases/index.js';
import { writePart } from './lib/benchmarks-md.js';
import { removeBlobs } from './lib/blobs.js';
import { writeCurrentFigures } from './lib/current-figures.js';
import { readCount } from './lib/env-counts.js';
import { ms, ratio } from './lib/format.js';
import { hyperfineGoalFigures, renderHyperfineMarkdown } from './lib/hyperfine-report.js';
import { describeMachine } from './lib/machine.js';
import { snapshotRepo } from './lib/snapshot.js';
import { closeDevNull } from './lib/spawn.js';
import { median, spread } from './lib/stats.js';

const HYPERFINE = process.env.HYPERFINE ?? 'hyperfine';

// One hyperfine call: the commands, in the given order; their times in ms.
function hyperfineRound(commands, { runs, dir, round }) {
  const json = join(dir, `round-${round}.json`);
  const args = ['--shell', 'bash', '--warmup', '1', '--runs', String(runs), '--style', 'none', '--export-json', json];
  for (const command of commands) args.push('--prepare', command.prepare ?? 'true');
  for (const command of commands) args.push('--command-name', command.side, command.line);
  const result = spawnSync(HYPERFINE, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`hyperfine exited with ${result.status}`);
  const { results } = JSON.parse(readFileSync(json, 'utf8'));
  return Object.fromEntries(results.map((r) => [r.command, r.times.map((s) => s * 1000)]));
}

function measure(state, { rounds, runs }, dir) {
  const a = { side: 'A', line: state.a, prepare: state.prepareA };
  const b = { side: 'B', line: state.b, prepare: state.prepareB };
  const floors = (state.floors ?? []).map((floor, i) => ({ ...floor, side: `F${i + 1}` }));
  const timesA = [];
  const timesB = [];
  const ratios = [];
  const floorTimes = floors.map(() => []);
  const floorRatios = floors.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    // A and B alternate; the floors go after them in odd rounds, before them in even ones
    const order = round % 2 === 1 ? [a, b, ...floors] : [...floors, b, a];
    const times = hyperfineRound(order, { runs, dir, round });
    timesA.push(...times.A);
    timesB.push(...times.B);
    ratios.push(median(times.A) / median(times.B));
    floors.forEach((floor, i) => {
      floorTimes[i].push(...times[floor.side]);
      floorRatios[i].push(median(times[floor.side]) / median(times.B));
    });
  }
  return {
    a: spread(timesA),
    b: spread(timesB),
    ratio: spread(ratios),
    overall: median(timesA) / median(timesB),
    floors: floors.map((floor, i) => ({
      what: floor.what,
      f: spread(floorTimes[i]),
      ratio: spread(floorRatios[i]),
      overall: median(floorTimes[i]) / median(timesB),
    })),
  };
}

function hyperfineVersion() {
  return spawnSync(HYPERFINE, ['--version'], { encoding: 'utf8' }).stdout.trim();
}

async function main() {
  // Extra CA certificates cost Node 20 some 80 ms at every start (this
  // machine sets them): they would flatter every ratio against `node -e 0`.
  delete process.env.NODE_EXTRA_CA_CERTS;
  const machine = describeMachine(new Date());
  const settings = { rounds: readCount('HYPERFINE_ROUNDS', undefined), runs: readCount('HYPERFINE_RUNS', undefined) };
  const only = process.env.BENCH_ONLY;
  const outside = cases.filter((c) => c.hyperfine);
  const chosen = only ? outside.filter((c) => c.name.includes(only)) : outside;
  if (chosen.length === 0) throw new Error(`BENCH_ONLY='${only}' matches no case`);
  const snapshot = snapshotRepo();
  const dir = mkdtempSync(join(tmpdir(), 'dcache-hyperfine-'));
  const results = [];
  try {
    for (const benchCase of chosen) {
      console.log(`${benchCase.name} vs ${benchCase.baseline}`);
      let state;
      try {
        state = await benchCase.hyperfine.setup(snapshot.build);
        const { rounds, runs } = benchCase.hyperfine;
        const measured = measure(state, { rounds: settings.rounds ?? rounds, runs: settings.runs ?? runs }, dir);
        state.check?.();
        const { a, b, ratio: r, overall } = measured;
        console.log(`  A ${ms(a.median)}, B ${ms(b.median)}, ratio per round ${ratio(r.min)} / ${ratio(r.median)} / ${ratio(r.max)}, overall ${ratio(overall)}`);
        for (const floor of measured.floors) console.log(`  ${floor.what}: ${ms(floor.f.median)}, F/B per round ${ratio(floor.ratio.median)}, overall ${ratio(floor.overall)}`);
        results.push({ benchCase, measured });
      } catch (error) {
        console.log(`  INVALID: ${error.stack}`);
        results.push({ benchCase, error });
      } finally {
        state?.cleanup();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    snapshot.cleanup();
    removeBlobs();
    closeDevNull();
  }
  const markdown = renderHyperfineMarkdown({ machine, results, settings, version: hyperfineVersion() });
  if (only) console.log('BENCH_ONLY is set: BENCHMARKS.md left as it was');
  else {
    writePart('bench/hyperfine.js', markdown);
    console.log(`Wrote ${writeCurrentFigures('`npm run bench:hyperfine`', machine, hyperfineGoalFigures(results, settings))}`);
  }
  if (results.some((r) => r.error)) process.exitCode = 1;
}

await main();
