// The outside check of bench/run.js, behind `npm run bench:hyperfine`: the
// cases whose figures users see (a small hit, a program's import of the
// library and one hit, a large hit into a pipe, a large recording, a large
// restore) timed by hyperfine rather than by our
// own runner, A and B alternated, and written to BENCHMARKS.md beside the
// runner's results. Every dcache run verifies the SHA-256 of what it
// replays, as any hit does; nothing is turned off for the benchmark.
//
// hyperfine runs all the runs of one command before the next, so each case
// is measured in rounds: one hyperfine call per round with A and B, A first
// in odd rounds and B first in even ones, a warm-up run each. Two ratios
// are given: the median of the per-round ratios (median A / median B of the
// round), and the median of every A run over the median of every B run; a
// goal is met only if both are within it (with few runs a round, one slow
// baseline run can pull a round's ratio down).
//
// The recording and the restore also time, in the same rounds, the same
// work done by C tools without dcache (F): the recording written to a file
// and synced, with and without a SHA-256 of it; the restore's copy beside a
// SHA-256 of the file. Where F/B is over a goal, that guarantee alone puts
// the goal out of reach on this machine.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLibraryFixture } from './cases/library-hit.js';
import { writePart } from './lib/benchmarks-md.js';
import { MIB, randomBlob, removeBlobs } from './lib/blobs.js';
import { readCount } from './lib/env-counts.js';
import { markdownTable, ms, ratio } from './lib/format.js';
import { readOnlyEntry, recordCat, recordOutputFile } from './lib/large-output.js';
import { describeMachine, renderMachine } from './lib/machine.js';
import { snapshotRepo } from './lib/snapshot.js';
import { spread, median } from './lib/stats.js';
import { closeDevNull } from './lib/spawn.js';

const HYPERFINE = process.env.HYPERFINE ?? 'hyperfine';

// POSIX shell quoting, for the command lines hyperfine hands to bash.
const quote = (word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);
const line = (words) => words.map(quote).join(' ');
const withCache = (dir, words) => `DCACHE_DIR=${quote(dir)} ${line([process.execPath, ...words])}`;
// bash with pipefail, so that a failing command is not hidden by cat's success
const PIPE = 'set -o pipefail; ';

const cases = [
  {
    name: 'hit, 1 KB output',
    baseline: '`node -e 0`',
    goal: 1.15,
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
  {
    name: 'library: import + one hit',
    baseline: '`node -e 0`',
    goal: 1.15,
    rounds: 5,
    runs: 10,
    async setup(build) {
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
  {
    name: 'hit, 256 MB output into a pipe',
    baseline: '`cat blob | cat`',
    goal: 1.3,
    rounds: 5,
    runs: 3,
    async setup(build) {
      const blob = randomBlob(256 * MIB);
      const fixture = await recordCat(build, blob, 'dcache-hyperfine-hit-');
      return {
        a: `${PIPE}${withCache(fixture.cacheDir, fixture.hitArgs)} | cat > /dev/null`,
        b: `${PIPE}${line(fixture.command)} | cat > /dev/null`,
        cleanup: fixture.cleanup,
      };
    },
  },
  {
    name: 'miss, recording 256 MB',
    baseline: 'the command alone into the same pipe (`cat blob | cat`)',
    goal: 1.5,
    rounds: 5,
    runs: 3,
    setup(build) {
      const blob = randomBlob(256 * MIB);
      const root = mkdtempSync(join(tmpdir(), 'dcache-hyperfine-miss-'));
      const cacheDir = join(root, 'cache');
      const command = ['cat', blob.path];
      const floorFile = join(root, 'floor.bin');
      return {
        // every A records into an empty cache directory
        prepareA: line(['rm', '-rf', cacheDir]),
        a: `${PIPE}${withCache(cacheDir, [build.bin, 'run', '--', ...command])} | cat > /dev/null`,
        b: `${PIPE}${line(command)} | cat > /dev/null`,
        // the same work done by C tools: the output through tee into a file
        // that is then synced to disk, as a recording must before its entry
        // exists; and the same again with the SHA-256 of every byte (by
        // openssl, reading a third copy from tee) that a recording computes
        floors: [
          {
            what: '`cat blob | tee file | cat`, then `sync -d file`',
            prepare: line(['rm', '-f', floorFile]),
            line: `${PIPE}${line(command)} | ${line(['tee', floorFile])} | cat > /dev/null && ${line(['sync', '-d', floorFile])}`,
          },
          {
            what: 'the same, tee also feeding `openssl dgst -sha256`',
            prepare: line(['rm', '-f', floorFile]),
            line:
              `${PIPE}exec 3> >(openssl dgst -sha256 > /dev/null); hash=$!; ` +
              `${line(command)} | ${line(['tee', floorFile, '/dev/fd/3'])} | cat > /dev/null && exec 3>&- && wait $hash && ${line(['sync', '-d', floorFile])}`,
          },
        ],
        // the last recording holds the whole output, byte for byte
        check() {
          const { manifest, blobPath } = readOnlyEntry(cacheDir);
          const sha256 = createHash('sha256').update(readFileSync(blobPath)).digest('hex');
          if (manifest.stdout?.size !== blob.bytes || sha256 !== blob.sha256) throw new Error('the last recording is not the command output');
        },
        cleanup: () => rmSync(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: '1 GB output file restore (`-o`)',
    baseline: '`cp` of the same file',
    goal: 1.5,
    rounds: 5,
    runs: 4,
    setup(build) {
      const blob = randomBlob(1024 * MIB);
      const fixture = recordOutputFile(build, blob, 'dcache-hyperfine-restore-');
      const copy = join(fixture.work, 'copy.bin');
      // Before every run, the files the runs before it wrote go, and their
      // pages not yet on disk with them (none of A, B and F syncs), so that
      // that writeback does not land in the next timed run.
      const clean = line(['rm', '-f', fixture.output, copy, `${copy}.floor`]);
      const a = `cd ${quote(fixture.work)} && ${withCache(join(fixture.root, 'cache'), fixture.hitArgs)}`;
      return {
        prepareA: clean,
        prepareB: clean,
        a,
        b: line(['cp', fixture.storedPath, copy]),
        // the same work done by C tools: the copy, and beside it the
        // SHA-256 of the file that every hit checks
        floors: [
          {
            what: '`cp` beside `openssl dgst -sha256` of the file, in parallel',
            prepare: clean,
            line: `${line(['cp', fixture.storedPath, `${copy}.floor`])} & ${line(['openssl', 'dgst', '-sha256', fixture.storedPath])} > /dev/null && wait $!`,
          },
        ],
        // every run was a hit, and one more (the timed ones' files are
        // removed by the runs after them) restores the recorded bytes
        check() {
          if (fixture.runs() !== 1) throw new Error('the command ran again: a run was not a hit');
          const again = spawnSync('bash', ['-c', a], { stdio: 'ignore' });
          if (again.status !== 0 || fixture.runs() !== 1) throw new Error('the restore after the rounds failed or ran the command');
          const sha256 = createHash('sha256').update(readFileSync(fixture.output)).digest('hex');
          if (sha256 !== blob.sha256) throw new Error('the restored file is not the recorded bytes');
        },
        cleanup: fixture.cleanup,
      };
    },
  },
];

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

function render(machine, results, settings) {
  const rows = results.map(({ benchCase, measured, error }) => {
    const goal = `≤ ${ratio(benchCase.goal)}`;
    if (error) return [benchCase.name, benchCase.baseline, goal, '—', '—', `invalid: ${error.message.split('\n')[0]}`, '—', '—'];
    const { a, b, ratio: r, overall } = measured;
    return [
      benchCase.name,
      benchCase.baseline,
      goal,
      `${ms(a.min)} / ${ms(a.median)} / ${ms(a.max)}`,
      `${ms(b.min)} / ${ms(b.median)} / ${ms(b.max)}`,
      `${ratio(r.min)} / **${ratio(r.median)}** / ${ratio(r.max)}`,
      `**${ratio(overall)}**`,
      r.median <= benchCase.goal && overall <= benchCase.goal ? 'yes' : 'no',
    ];
  });
  const floors = results
    .flatMap(({ benchCase, measured }) => (measured?.floors ?? []).map((floor) => ({ benchCase, floor })))
    .map(({ benchCase, floor }) => [
      benchCase.name,
      floor.what,
      `${ms(floor.f.min)} / ${ms(floor.f.median)} / ${ms(floor.f.max)}`,
      `${ratio(floor.ratio.min)} / **${ratio(floor.ratio.median)}** / ${ratio(floor.ratio.max)}`,
      `**${ratio(floor.overall)}**`,
    ]);
  const floorPart =
    floors.length === 0
      ? ''
      : `

The same work done by C tools without dcache (F), timed in the same rounds (after A and B in
odd rounds, before them in even ones): what the recording's and the restore's guarantees cost
on their own. Where F/B is over a goal, the goal is out of reach on this machine for any program
that keeps that guarantee, not only for dcache.

${markdownTable(['case', 'the same work by C tools (F)', 'F: min / median / max', 'ratio F/B per round', 'overall'], floors)}`;
  const counts = results.map(({ benchCase }) => `${benchCase.name}: ${settings.rounds ?? benchCase.rounds} rounds of ${settings.runs ?? benchCase.runs} runs`);
  return `## Outside check with hyperfine

Written by \`npm run bench:hyperfine\` (bench/hyperfine.js): the cases users see, timed by
hyperfine (${hyperfineVersion()}) instead of bench/run.js's own runner. Each case runs in rounds,
one hyperfine call per round with A and B (a warm-up run each, then the runs below), A first in
odd rounds and B first in even ones; commands go through \`bash -c\` (with \`pipefail\` for the
pipes), whose start-up hyperfine subtracts. Times are min / median / max over all runs; "per
round" is min / **median** / max of the per-round ratios of medians, "overall" the median of all A
runs over the median of all B runs, and a goal is met only if both are within it. Each dcache hit
verifies the SHA-256 of every blob it replays, as always. Do not edit by hand.

${renderMachine(machine)}

${markdownTable(['case', 'baseline (B)', 'goal', 'A: min / median / max', 'B: min / median / max', 'ratio A/B per round', 'overall', 'met?'], rows)}${floorPart}

Runs: ${counts.join('; ')}. Checks: the entries were recorded and one hit of each large one
streamed into SHA-256 and compared with the blob's before timing (bench/lib/large-output.js);
after the recording case, the last recording's blob was compared with the output (SHA-256);
after the restore case, the command had run once only, and one more restore made after the
rounds was compared (SHA-256); after the library case, the function had run once only.

\`HYPERFINE_ROUNDS\` and \`HYPERFINE_RUNS\` set the rounds and the runs per round for every case;
\`BENCH_ONLY=text\` runs the cases whose name holds it and leaves BENCHMARKS.md as it was.`;
}

function hyperfineVersion() {
  return spawnSync(HYPERFINE, ['--version'], { encoding: 'utf8' }).stdout.trim();
}

async function main() {
  const machine = describeMachine(new Date());
  const settings = { rounds: readCount('HYPERFINE_ROUNDS', undefined), runs: readCount('HYPERFINE_RUNS', undefined) };
  const only = process.env.BENCH_ONLY;
  const chosen = only ? cases.filter((c) => c.name.includes(only)) : cases;
  if (chosen.length === 0) throw new Error(`BENCH_ONLY='${only}' matches no case`);
  const snapshot = snapshotRepo();
  const dir = mkdtempSync(join(tmpdir(), 'dcache-hyperfine-'));
  const results = [];
  try {
    for (const benchCase of chosen) {
      console.log(`${benchCase.name} vs ${benchCase.baseline}`);
      let state;
      try {
        state = await benchCase.setup(snapshot.build);
        const measured = measure(state, { rounds: settings.rounds ?? benchCase.rounds, runs: settings.runs ?? benchCase.runs }, dir);
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
  const markdown = render(machine, results, settings);
  if (only) console.log('BENCH_ONLY is set: BENCHMARKS.md left as it was');
  else console.log(`Wrote ${writePart('bench/hyperfine.js', markdown)}`);
  if (results.some((r) => r.error)) process.exitCode = 1;
}

await main();
