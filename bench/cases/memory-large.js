import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIB, randomBlob } from '../lib/blobs.js';
import { countActivity, expectSameBytes, readOnlyEntry } from '../lib/large-output.js';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, hashStdout, spawnIntoPipe } from '../lib/spawn.js';

const GNU_TIME = '/usr/bin/time';
const HUGE_BYTES = 1024 * MIB;
const LARGE_BYTES = 256 * MIB;

// Peak memory (maximum resident set size, GNU time's %M) of dcache
// recording and replaying 1 GiB through a pipe, against the same for
// 256 MiB: streaming keeps it flat in the size of the output (DESIGN.md,
// principle 4). The goal: at most 100 MB (10^6 bytes) on every run.
// A and B are measured in MB instead of time; A/B shows the flatness.
function memoryCase({ name, verb, prepare, runArgs, check, verify }) {
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

export const memoryRecord = memoryCase({
  name: 'peak memory, recording 1 GB',
  verb: 'recording',
  // Every run records into a new, empty cache directory.
  prepare() {},
  runArgs(state, blob) {
    state.cacheDir = join(state.root, `cache-${state.serial}`);
    return { args: [state.build.bin, 'run', '--', 'cat', blob.path], options: { cwd: REPO, env: cleanEnv({ DCACHE_DIR: state.cacheDir }) } };
  },
  check(state, result, blob) {
    expectSuccess(`dcache recording ${blob.bytes / MIB} MiB`, result);
    const { blobBytes } = readOnlyEntry(state.cacheDir);
    if (blobBytes !== blob.bytes) throw new Error(`the recorded stdout blob has ${blobBytes} bytes, not ${blob.bytes}`);
    rmSync(state.cacheDir, { recursive: true, force: true });
  },
  verify: () => 'every run recorded a new entry into an empty cache directory, its stdout blob the whole output (1 GiB or 256 MiB)',
});

export const memoryReplay = memoryCase({
  name: 'peak memory, replaying 1 GB',
  verb: 'replaying',
  // One cache directory with both entries, each checked once: its first hit
  // is streamed into SHA-256 and compared with the blob's.
  async prepare(state) {
    state.cacheDir = join(state.root, 'cache');
    state.options = { cwd: REPO, env: cleanEnv({ DCACHE_DIR: state.cacheDir }) };
    for (const blob of [state.huge, state.large]) {
      const args = [state.build.bin, 'run', '--', 'cat', blob.path];
      expectSuccess('recording the entry', spawnIntoPipe([process.execPath, ...args], state.options));
      await expectSameBytes(`the first hit of ${blob.bytes / MIB} MiB`, blob, hashStdout(process.execPath, args, state.options));
    }
    state.hits = 2;
  },
  runArgs: (state, blob) => ({ args: [state.build.bin, 'run', '--', 'cat', blob.path], options: state.options }),
  check(state, result, blob) {
    expectSuccess(`dcache replaying ${blob.bytes / MIB} MiB`, result);
    state.hits += 1;
  },
  verify({ build, cacheDir, hits }) {
    const seen = countActivity(build, cacheDir);
    if (seen.misses !== 2 || seen.hits !== hits) {
      throw new Error(`dcache counted ${seen.hits} hits and ${seen.misses} misses, not ${hits} and 2`);
    }
    return `each command executed once (dcache stats: 2 misses, ${hits} hits); the first hit of each, streamed into SHA-256, replayed its blob exactly`;
  },
});
