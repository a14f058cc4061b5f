import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HUGE_BYTES, LARGE_BYTES, randomBlob } from './blobs.js';
import { spawnIntoPipe } from './spawn.js';

const GNU_TIME = '/usr/bin/time';

// The two peak-memory cases (bench/cases/peak-memory-*.js): peak memory
// (maximum resident set size, GNU time's %M) of dcache recording or
// replaying 1 GiB through a pipe, against the same for 256 MiB: streaming
// keeps it flat in the size of the output (DESIGN.md, principle 4). The
// issue's goal: at most 100 MB (10^6 bytes) on every run. A and B are
// measured in MB instead of time; A/B shows the flatness. What differs
// between the two: `prepare(state)` once, `runArgs(state, blob)` per run,
// `check(state, result, blob)` after it, and `verify(state)`.
export function peakMemoryCase({ name, verb, prepare, runArgs, check, verify }) {
  return {
    name,
    baseline: `the same for 256 MB (${verb} 256 MiB)`,
    goalMaxMB: 100,
    defaultRuns: 3,
    defaultWarmup: 1,

    async setup(build) {
      if (!existsSync(GNU_TIME)) throw new Error(`GNU time is not at ${GNU_TIME}`);
      const root = mkdtempSync(join(tmpdir(), 'dcache-bench-memory-'));
      const state = { build, root, serial: 0, huge: randomBlob(HUGE_BYTES), large: randomBlob(LARGE_BYTES) };
      try {
        await prepare(state);
      } catch (error) {
        rmSync(root, { recursive: true, force: true });
        throw error;
      }
      return state;
    },

    runA: (state) => timed(state, runArgs, state.huge),
    runB: (state) => timed(state, runArgs, state.large),
    checkA: (state, result) => check(state, result, state.huge),
    checkB: (state, result) => check(state, result, state.large),
    // The peak in MB, from the file GNU time wrote (its last line: a failed
    // command adds a line before it).
    metric: (_state, result) => (Number(readFileSync(result.rssFile, 'utf8').trim().split('\n').pop()) * 1024) / 1e6,

    verify,
    teardown: ({ root }) => rmSync(root, { recursive: true, force: true }),
  };
}

// `/usr/bin/time -f %M -o <file> node bin/dcache.js … | cat > /dev/null`: GNU
// time measures the dcache process (and the command it runs, which it waits
// for) and nothing of the pipe's reader.
function timed(state, runArgs, blob) {
  state.serial += 1;
  const { args, options } = runArgs(state, blob);
  const rssFile = join(state.root, `rss-${state.serial}`);
  const result = spawnIntoPipe([GNU_TIME, '-f', '%M', '-o', rssFile, process.execPath, ...args], options);
  result.rssFile = rssFile;
  return result;
}
