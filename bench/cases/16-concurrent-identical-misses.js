import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, spawnTogether } from '../lib/spawn.js';

// How many `dcache run` start at once.
const CONCURRENT = 16;
// What the command takes: long enough that all the others arrive while it runs.
const COMMAND_SECONDS = 0.5;

// 16 `dcache run` of one slow command started at once, on an empty cache:
// one runs the command, the others wait for it and replay its entry (single
// flight). Against one such miss alone. Every round has its own cache
// directory and counter file; the command appends to the counter each time
// it really runs. The goal: within 1.5× of one miss, and the command
// executed exactly once per round.
export const benchCase = {
  name: '16 concurrent identical misses',
  baseline: 'one such miss',
  goal: 1.5,
  defaultRuns: 8,
  defaultWarmup: 1,

  setup(build) {
    const root = mkdtempSync(join(tmpdir(), 'dcache-bench-concurrent-'));
    return { root, rounds: createMissRounds(build, root) };
  },

  runA: ({ rounds }) => rounds.start(CONCURRENT),
  runB: ({ rounds }) => rounds.start(1),
  checkA: ({ rounds }, results) => rounds.check(results),
  checkB: ({ rounds }, results) => rounds.check(results),

  verify: ({ rounds }) =>
    `in each of ${rounds.done} rounds (A and B, warm-up included) the command executed exactly once (its counter file), and every process printed its output and exited 0`,

  teardown: ({ root }) => rmSync(root, { recursive: true, force: true }),
};

// Rounds of misses of one slow command, each on a new, empty cache
// directory with a new counter file: `start(n)` starts n `dcache run` at once;
// `check(results)`, untimed, proves that every one printed the command's
// output and that the command ran exactly once, then sets up the next round.
function createMissRounds(build, root) {
  let serial = 0;
  let round;
  const next = () => {
    serial += 1;
    const dir = join(root, `round-${serial}`);
    const counter = `${dir}.runs`;
    writeFileSync(counter, '');
    round = { dir, counter, args: [build.bin, 'run', '--', ...slowCommand(counter)], options: { cwd: REPO, env: cleanEnv({ DCACHE_DIR: dir }) } };
  };
  next();
  const rounds = {
    done: 0,
    start: (count) => spawnTogether(count, process.execPath, round.args, round.options),
    check(results) {
      expectPrinted(results);
      const ran = readFileSync(round.counter, 'utf8').split('\n').filter(Boolean).length;
      if (ran !== 1) throw new Error(`${results.length} concurrent dcache runs executed the command ${ran} times, not once`);
      rounds.done += 1;
      rmSync(round.dir, { recursive: true, force: true });
      rmSync(round.counter, { force: true });
      next();
    },
  };
  return rounds;
}

// The command: counts its real runs in `counter`, takes COMMAND_SECONDS,
// prints "done". POSIX sh, sleep and echo only, so that it runs the same on
// macOS.
function slowCommand(counter) {
  return ['/bin/sh', '-c', `echo ran >> "$1"; sleep ${COMMAND_SECONDS}; echo done`, 'dcache-bench', counter];
}

// Throws unless every run exited 0 and printed the command's output.
function expectPrinted(results) {
  for (const result of results) {
    expectSuccess('dcache run', result);
    const stdout = result.stdout.toString('utf8');
    if (stdout !== 'done\n') throw new Error(`a dcache run printed ${JSON.stringify(stdout)}, not "done\\n"`);
  }
}
