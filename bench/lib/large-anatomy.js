import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIB, randomBlob } from './blobs.js';
import { createClassifier, summariseProfiles } from './cpu-profile.js';
import { readOnlyEntry, recordCat, recordOutputFile } from './large-output.js';
import { CONCURRENT, createMissRounds, expectPrinted, slowCommand } from './miss-rounds.js';
import { measureRounds } from './pairs.js';
import { PROBES, REPO } from './paths.js';
import { cleanEnv, devNullFd, expectSuccess, PIPELINE_SCRIPT, spawnIntoPipe, spawnMeasured, spawnNode, spawnTogether } from './spawn.js';
import { median } from './stats.js';

// "Where the time goes" for the large-output cases with a ratio goal: for
// each, a ladder of commands timed in rounds (the case's baseline, what
// any Node program or any pass-through stage costs, probes that do part of
// dcache's work, then dcache itself), and a CPU profile of dcache's run.
// Every figure comes from this run.

const TASKSET = '/usr/bin/taskset';

// `caseNames` holds the names of the cases that were measured: a scenario
// is dissected only if its case was. The sections come back in the order of
// SCENARIOS.
export async function dissectLargeOutputs(build, rebuilt, caseNames, { rounds, profileRuns, profileIntervalUs }) {
  const chosen = SCENARIOS.filter((s) => caseNames.has(s.caseName));
  if (chosen.length === 0) return [];
  const work = mkdtempSync(join(tmpdir(), 'dcache-bench-large-anatomy-'));
  const classifier = createClassifier(build.dist, rebuilt?.mapFor ?? undefined);
  const context = { build, work, pinning: existsSync(TASKSET) && availableParallelism() >= 2 };
  const sections = [];
  try {
    for (const scenario of chosen) {
      const dir = join(work, scenario.id);
      mkdirSync(dir);
      const fixture = await scenario.prepare({ ...context, dir });
      try {
        const rungs = scenario.rungs({ ...context, dir }, fixture);
        const times = await measureRounds(rungs, { rounds, warmup: 1 });
        const profile =
          scenario.profile && profileRuns > 0
            ? profileCommand(scenario.profile({ ...context, dir }, fixture), join(dir, 'profiles'), { runs: profileRuns, intervalUs: profileIntervalUs }, classifier)
            : null;
        const facts = scenario.facts?.(fixture) ?? null;
        sections.push({ id: scenario.id, caseName: scenario.caseName, ladder: summariseLadder(rungs, times), rounds, profile, facts });
      } finally {
        fixture.cleanup?.();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return sections;
}

// Per rung: median wall time, the median of the per-round differences from
// the rung it is compared with (`over`, else the one above), and the median
// of the per-round ratios to the baseline (the first rung).
function summariseLadder(rungs, times) {
  return rungs.map((rung, i) => {
    const base = times[0];
    const overIndex = rung.over === undefined ? i - 1 : rungs.findIndex((r) => r.id === rung.over);
    const compared = i > 0 && overIndex >= 0;
    const over = compared ? median(times[i].map((ms, r) => ms - times[overIndex][r])) : null;
    const overRatio = compared ? median(times[i].map((ms, r) => ms / times[overIndex][r])) : null;
    return {
      id: rung.id,
      command: rung.command,
      adds: rung.adds,
      overLabel: i === 0 ? null : rungs[overIndex].short ?? rungs[overIndex].command,
      wallMs: median(times[i]),
      minMs: Math.min(...times[i]),
      maxMs: Math.max(...times[i]),
      overMs: over,
      overRatio,
      ratio: median(times[i].map((ms, r) => ms / base[r])),
    };
  });
}

// `runs` runs of dcache under `node --cpu-prof`, summarised like the hit's.
// `run(flags)` spawns one with the given Node flags; `check` is untimed.
function profileCommand({ run, check }, dir, { runs, intervalUs }, classifier) {
  const flags = ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', String(intervalUs)];
  for (let i = 0; i < runs; i++) check(run(flags));
  const files = readdirSync(dir).map((name) => join(dir, name));
  return { runs, intervalUs, summary: summariseProfiles(files, classifier) };
}

// `bash -c '<pipeline>'` with the writer and the reader pinned: both to
// CPU 0 (`together`) or the writer to CPU 0 and the reader to CPU 1.
function pinnedPipe(command, options, placement) {
  const script =
    placement === 'together'
      ? PIPELINE_SCRIPT
      : `set -o pipefail; ${TASKSET} -c 0 "$@" | ${TASKSET} -c 1 cat > /dev/null`;
  const prefix = placement === 'together' ? [TASKSET, '-c', '0'] : [];
  const [file, ...args] = [...prefix, '/bin/bash', '-c', script, 'bash', ...command];
  return spawnMeasured(file, args, options);
}

const node = process.execPath;
const ok = (label) => (result) => expectSuccess(label, result);

// The hit cases' rungs: baseline, Node's start-up, the probes, dcache.
function hitRungs(context, fixture, into) {
  const { blob } = fixture;
  const probe = (flag) => [join(PROBES, 'copy-out.cjs'), blob.path, ...(flag ? [flag] : [])];
  const spawnInto =
    into === 'pipe'
      ? (command) => spawnIntoPipe(command, fixture.options)
      : (command) => spawnMeasured(command[0], command.slice(1), { ...fixture.options, stdout: devNullFd() });
  const sink = into === 'pipe' ? '| cat > /dev/null' : '> /dev/null';
  const rungs = [
    { id: 'baseline', command: `\`cat blob ${sink}\``, short: 'the baseline', adds: 'the baseline (B)', run: () => spawnInto(['cat', blob.path]), check: ok('cat') },
    {
      id: 'node',
      command: '`node -e 0`',
      adds: "Node's start-up and exit, no output",
      run: () => spawnMeasured(node, ['-e', '0'], { cwd: REPO, env: cleanEnv(), stdout: devNullFd() }),
      check: ok('node -e 0'),
      over: 'baseline',
    },
    {
      id: 'copy',
      command: `\`node bench/probes/copy-out.cjs blob ${sink}\``,
      short: 'copy-out.cjs',
      adds: 'a Node program that only reads the file in 1 MiB chunks and writes them out',
      run: () => spawnInto([node, ...probe()]),
      check: ok('copy-out.cjs'),
      over: 'baseline',
    },
    {
      id: 'hash',
      command: `\`node bench/probes/copy-out.cjs blob --xxhash ${sink}\``,
      short: 'copy-out.cjs --xxhash',
      adds: 'the same, hashing every chunk with xxhash-wasm (as a replay verifies)',
      run: () => spawnInto([node, ...probe('--xxhash')]),
      check: ok('copy-out.cjs --xxhash'),
      over: 'copy',
    },
    {
      id: 'dcache',
      command: `\`dcache run -- cat blob ${sink}\` (hit)`,
      adds: 'the hit of the results table (A)',
      run: () => spawnInto([node, ...fixture.hitArgs]),
      check: ok('dcache hit'),
      over: 'hash',
    },
  ];
  if (into === 'pipe' && context.pinning) {
    for (const [placement, where] of [
      ['together', 'all on CPU 0'],
      ['apart', 'writer on CPU 0, reader on CPU 1'],
    ]) {
      rungs.push(
        {
          id: `baseline-${placement}`,
          command: `\`cat blob | cat > /dev/null\`, ${where}`,
          short: `the baseline, ${where}`,
          adds: `the baseline pinned with taskset: ${where}`,
          run: () => pinnedPipe(['cat', blob.path], fixture.options, placement),
          check: ok('pinned cat'),
          over: 'baseline',
        },
        {
          id: `dcache-${placement}`,
          command: `\`dcache run -- cat blob | cat > /dev/null\`, ${where}`,
          adds: `the hit pinned the same way`,
          run: () => pinnedPipe([node, ...fixture.hitArgs], fixture.options, placement),
          check: ok('pinned dcache hit'),
          over: `baseline-${placement}`,
        },
      );
    }
  }
  return rungs;
}

async function prepareHit(context, prefix) {
  const blob = randomBlob(256 * MIB);
  const fixture = await recordCat(context.build, blob, prefix);
  return { ...fixture, blob };
}

function hitProfile(fixture, into) {
  const [bin, ...rest] = fixture.hitArgs;
  return {
    run: (flags) =>
      into === 'pipe'
        ? spawnIntoPipe([node, ...flags, bin, ...rest], fixture.options)
        : spawnNode([...flags, bin, ...rest], { ...fixture.options, stdout: devNullFd() }),
    check: ok('profiled dcache hit'),
  };
}

// A miss: `dcache run -- cat blob` into the fixture's current cache
// directory, which is empty; the check proves it recorded the whole output,
// then removes the directory and names a new one for the next run.
const missArgs = (context, fixture) => [node, context.build.bin, 'run', '--', 'cat', fixture.blob.path];
const missOptions = (fixture) => ({ cwd: REPO, env: cleanEnv({ DCACHE_DIR: fixture.cacheDir }) });
const checkMiss = (fixture, label) => (result) => {
  expectSuccess(label, result);
  if (readOnlyEntry(fixture.cacheDir).blobBytes !== fixture.blob.bytes) throw new Error(`${label} did not record the whole output`);
  rmSync(fixture.cacheDir, { recursive: true, force: true });
  fixture.cacheDir = fixture.next();
};

// A FIFO for bench/probes/fifo-pass.cjs, made with mkfifo(1).
function makeFifo(path) {
  const made = spawnSync('mkfifo', [path]);
  if (made.status !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr}`);
  return path;
}

const SCENARIOS = [
  {
    id: 'hit-pipe',
    caseName: 'hit, 256 MB output into a pipe',
    prepare: (context) => prepareHit(context, 'dcache-bench-anatomy-pipe-'),
    rungs: (context, fixture) => hitRungs(context, fixture, 'pipe'),
    profile: (_context, fixture) => hitProfile(fixture, 'pipe'),
  },
  {
    id: 'hit-null',
    caseName: 'hit, 256 MB into /dev/null',
    prepare: (context) => prepareHit(context, 'dcache-bench-anatomy-null-'),
    rungs: (context, fixture) => hitRungs(context, fixture, 'null'),
    profile: (_context, fixture) => hitProfile(fixture, 'null'),
  },
  {
    id: 'miss',
    caseName: 'miss, recording 256 MB',
    prepare(context) {
      const blob = randomBlob(256 * MIB);
      const fifo = makeFifo(join(context.dir, 'fifo'));
      const fixture = { blob, fifo, serial: 0, options: { cwd: REPO, env: cleanEnv() } };
      // A new cache directory (or temp file) per run, removed untimed.
      fixture.next = () => join(context.dir, `run-${(fixture.serial += 1)}`);
      fixture.cacheDir = fixture.next();
      fixture.temp = fixture.next();
      return fixture;
    },
    rungs(context, fixture) {
      const { blob } = fixture;
      const probe = (mode) => ({
        run: () => spawnIntoPipe([node, join(PROBES, 'tee-child.cjs'), blob.path, mode, fixture.temp], fixture.options),
        check: (result) => {
          expectSuccess(`tee-child.cjs ${mode}`, result);
          rmSync(fixture.temp, { force: true });
          fixture.temp = fixture.next();
        },
      });
      const rungs = [
        { id: 'baseline', command: '`cat blob | cat > /dev/null`', short: 'the baseline', adds: 'the baseline (B)', run: () => spawnIntoPipe(['cat', blob.path], fixture.options), check: ok('cat') },
        {
          id: 'stage',
          command: '`cat blob | cat | cat > /dev/null`',
          short: 'cat | cat | cat',
          adds: 'one more process passing the bytes on, as dcache does on a miss',
          run: () => spawnIntoPipe(['/bin/sh', '-c', 'cat "$1" | cat', 'sh', blob.path], fixture.options),
          check: ok('cat | cat'),
          over: 'baseline',
        },
        {
          id: 'pass',
          command: '`node bench/probes/tee-child.cjs blob pass | cat > /dev/null`',
          short: 'tee-child.cjs pass',
          adds: 'Node spawns cat and passes its stdout through with streams (src/record.ts), nothing else',
          ...probe('pass'),
          over: 'stage',
        },
        {
          id: 'hash',
          command: '`… tee-child.cjs blob hash …`',
          short: 'tee-child.cjs hash',
          adds: '+ xxhash-wasm over every chunk',
          ...probe('hash'),
          over: 'pass',
        },
        {
          id: 'file',
          command: '`… tee-child.cjs blob file …`',
          short: 'tee-child.cjs file',
          adds: '+ every chunk written to a temp file, 1 MiB high-water mark, pausing cat when full (src/store/blob-writer.ts)',
          ...probe('file'),
          over: 'hash',
        },
        {
          id: 'fsync',
          command: '`… tee-child.cjs blob fsync …`',
          short: 'tee-child.cjs fsync',
          adds: '+ fsync before the temp file closes (flush: true): the data path of a recording',
          ...probe('fsync'),
          over: 'file',
        },
        {
          id: 'dcache',
          command: '`dcache run -- cat blob | cat > /dev/null` (miss, empty cache)',
          adds: 'the miss of the results table (A)',
          run: () => spawnIntoPipe(missArgs(context, fixture), missOptions(fixture)),
          check: checkMiss(fixture, 'dcache miss'),
          over: 'fsync',
        },
        {
          id: 'fifo',
          command: '`node bench/probes/fifo-pass.cjs blob fifo | cat > /dev/null`',
          short: 'fifo-pass.cjs',
          adds: 'tried: cat writes into a FIFO that Node reads with blocking 1 MiB reads and writes out (no streams, no socket)',
          run: () => spawnIntoPipe([node, join(PROBES, 'fifo-pass.cjs'), blob.path, fixture.fifo], fixture.options),
          check: ok('fifo-pass.cjs'),
          over: 'pass',
        },
      ];
      if (context.pinning) {
        rungs.push(
          {
            id: 'baseline-together',
            command: '`cat blob | cat > /dev/null`, all on CPU 0',
            short: 'the baseline, all on CPU 0',
            adds: 'the baseline pinned to one CPU with taskset',
            run: () => pinnedPipe(['cat', blob.path], fixture.options, 'together'),
            check: ok('pinned cat'),
            over: 'baseline',
          },
          {
            id: 'dcache-together',
            command: '`dcache run -- cat blob | cat > /dev/null`, all on CPU 0',
            adds: 'the miss pinned the same way',
            run: () => pinnedPipe(missArgs(context, fixture), missOptions(fixture), 'together'),
            check: checkMiss(fixture, 'pinned dcache miss'),
            over: 'baseline-together',
          },
        );
      }
      return rungs;
    },
    profile(context, fixture) {
      // Each profiled run records into its own empty cache directory.
      return {
        run: (flags) => spawnIntoPipe([node, ...flags, ...missArgs(context, fixture).slice(1)], missOptions(fixture)),
        check: checkMiss(fixture, 'profiled dcache miss'),
      };
    },
  },
  {
    id: 'concurrent',
    caseName: '16 concurrent identical misses',
    prepare(context) {
      // Rounds of misses as in the case, and one entry of the same command
      // recorded once, for 16 hits at once with nobody to wait for.
      const rounds = createMissRounds(context.build, context.dir);
      const counter = join(context.dir, 'recorded.runs');
      writeFileSync(counter, '');
      const hit = {
        args: [context.build.bin, 'run', '--', ...slowCommand(counter)],
        options: { cwd: REPO, env: cleanEnv({ DCACHE_DIR: join(context.dir, 'recorded') }) },
      };
      expectSuccess('recording the entry', spawnNode(hit.args, hit.options));
      return { rounds, hit, exits: [], starts: [], baselineStarts: [], recordedRuns: () => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length };
    },
    rungs: (_context, { rounds, hit, recordedRuns, exits, starts, baselineStarts }) => [
      {
        id: 'baseline',
        command: 'one `dcache run` (miss)',
        short: 'one miss',
        adds: 'the baseline (B)',
        run: () => rounds.start(1),
        check: (results) => baselineStarts.push(rounds.check(results).commandStartMs),
      },
      {
        id: 'starts',
        command: `${CONCURRENT} × \`node -e 0\` at once`,
        short: `${CONCURRENT} × node -e 0`,
        adds: `Node's start-up, ${CONCURRENT} times at once on ${availableParallelism()} CPUs`,
        run: () => spawnTogether(CONCURRENT, node, ['-e', '0'], { cwd: REPO, env: cleanEnv() }),
        check: (results) => results.forEach(ok('node -e 0')),
        over: 'baseline',
      },
      {
        id: 'hits',
        command: `${CONCURRENT} × \`dcache run\` at once, all hits`,
        short: `${CONCURRENT} hits at once`,
        adds: 'the same command already recorded: 16 replays, nobody waits',
        run: () => spawnTogether(CONCURRENT, node, hit.args, hit.options),
        check: (results) => {
          expectPrinted(results);
          if (recordedRuns() !== 1) throw new Error('a hit ran the command');
        },
        over: 'starts',
      },
      {
        id: 'dcache',
        command: `${CONCURRENT} × \`dcache run\` at once, empty cache`,
        adds: 'the case (A): one runs the command, the others wait and replay',
        run: () => rounds.start(CONCURRENT),
        check: (results) => {
          const { commandStartMs } = rounds.check(results);
          exits.push(results.map((r) => r.exitMs).sort((x, y) => x - y));
          starts.push(commandStartMs);
        },
        over: 'baseline',
      },
    ],
    // When, from the first spawn, the command started (in A and in B) and
    // the 16 processes of A exited (the first, the second, the last):
    // medians over the rounds.
    facts: ({ exits, starts, baselineStarts }) => ({
      commandStartMs: median(starts),
      baselineCommandStartMs: median(baselineStarts),
      firstExitMs: median(exits.map((e) => e[0])),
      secondExitMs: median(exits.map((e) => e[1])),
      lastExitMs: median(exits.map((e) => e.at(-1))),
    }),
  },
  {
    id: 'restore',
    caseName: '1 GB output file restore (`-o`)',
    prepare(context) {
      const blob = randomBlob(1024 * MIB);
      return { blob, ...recordOutputFile(context.build, blob, 'dcache-bench-anatomy-restore-') };
    },
    rungs(_context, fixture) {
      const copy = join(fixture.work, 'copy.bin');
      // Untimed: the copy is whole, then deleted for the next round. The
      // in-kernel copy runs last in a round: libuv truncates its new file
      // first, which makes ext4 write it back on close, and the rung after
      // it may pay for that.
      const copied = (label, path) => (result) => {
        expectSuccess(label, result);
        const size = statSync(path).size;
        if (size !== fixture.blob.bytes) throw new Error(`${label} wrote ${size} bytes, not ${fixture.blob.bytes}`);
        rmSync(path);
      };
      const probe = (flag) => () => spawnNode([join(PROBES, 'copy-file.cjs'), fixture.storedPath, copy, ...(flag ? [flag] : [])], fixture.options);
      return [
        { id: 'baseline', command: '`cp <blob> copy.bin`', short: 'cp', adds: 'the baseline (B)', run: () => spawnMeasured('cp', [fixture.storedPath, copy], fixture.options), check: copied('cp', copy) },
        {
          id: 'copy',
          command: '`node bench/probes/copy-file.cjs <blob> copy.bin`',
          short: 'copy-file.cjs',
          adds: "Node's start-up + a copy through user space: 1 MiB reads and writes, as a restore does",
          run: probe(),
          check: copied('copy-file.cjs', copy),
          over: 'baseline',
        },
        {
          id: 'hash',
          command: '`node bench/probes/copy-file.cjs <blob> copy.bin --xxhash`',
          short: 'copy-file.cjs --xxhash',
          adds: '+ xxhash-wasm over every chunk (as a restore verifies the blob)',
          run: probe('--xxhash'),
          check: copied('copy-file.cjs --xxhash', copy),
          over: 'copy',
        },
        {
          id: 'dcache',
          command: '`dcache run -o big.bin -- …` (hit)',
          adds: 'the restore of the results table (A)',
          run: () => spawnNode(fixture.hitArgs, fixture.options),
          check: (result) => {
            copied('dcache hit', fixture.output)(result);
            if (fixture.runs() !== 1) throw new Error('the restore ran the command');
          },
          over: 'hash',
        },
        {
          id: 'kernel',
          command: '`node bench/probes/copy-file.cjs <blob> copy.bin --kernel`',
          short: 'copy-file.cjs --kernel',
          adds: "Node's start-up + fs.copyFileSync (here libuv truncates the new file, then copies inside the kernel with copy_file_range, as cp does)",
          run: probe('--kernel'),
          check: copied('copy-file.cjs --kernel', copy),
          over: 'baseline',
        },
      ];
    },
    profile: (_context, fixture) => ({
      run: (flags) => spawnNode([...flags, ...fixture.hitArgs], fixture.options),
      check: (result) => {
        expectSuccess('profiled dcache hit', result);
        rmSync(fixture.output);
      },
    }),
  },
];
