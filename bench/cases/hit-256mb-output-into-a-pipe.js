import { LARGE_BYTES, randomBlob } from '../lib/blobs.js';
import { verifyOneMissThenHits, recordCat } from '../lib/large-output.js';
import { line, PIPEFAIL, withCache } from '../lib/shell-line.js';
import { expectSuccess, spawnIntoPipe } from '../lib/spawn.js';

// A hit that replays 256 MiB into a pipe, against the bytes going through
// the same pipe without dcache: `dcache run -- cat blob | cat > /dev/null`
// against `cat blob | cat > /dev/null`. The goal: within 1.8× (Node's
// start and the check of the bytes included), and within 1.2× of the same
// bytes verified by C tools (`cat | tee >(openssl dgst -sha256) | cat`), the
// floor of any replay that checks what it replays.
export const benchCase = {
  name: 'hit, 256 MB output into a pipe',
  baseline: '`cat blob | cat`',
  goal: 1.8,
  defaultRuns: 12,
  defaultWarmup: 2,

  async setup(build) {
    const blob = randomBlob(LARGE_BYTES);
    const fixture = await recordCat(build, blob, 'dcache-bench-hit-pipe-');
    // recording and the checked first hit
    return { build, blob, fixture, hits: 1 };
  },

  runA: ({ fixture }) => spawnIntoPipe([process.execPath, ...fixture.hitArgs], fixture.options),
  runB: ({ fixture }) => spawnIntoPipe(fixture.command, fixture.options),
  checkA(state, result) {
    expectSuccess('dcache hit | cat', result);
    state.hits += 1;
  },
  checkB: (_state, result) => expectSuccess('cat blob | cat', result),

  // dcache's own counters: one miss (the recording), every other run a hit.
  verify: (state) => verifyOneMissThenHits(state, "one hit's output, streamed into a SHA-256 by the harness, was the 256 MiB blob exactly"),

  teardown: ({ fixture }) => fixture.cleanup(),

  hyperfine: {
    rounds: 5,
    runs: 3,
    async setup(build) {
      const blob = randomBlob(LARGE_BYTES);
      const fixture = await recordCat(build, blob, 'dcache-hyperfine-hit-');
      return {
        a: `${PIPEFAIL}${withCache(fixture.cacheDir, fixture.hitArgs)} | cat > /dev/null`,
        b: `${PIPEFAIL}${line(fixture.command)} | cat > /dev/null`,
        floors: [
          {
            what: '`cat blob | tee >(openssl dgst -sha256) | cat`',
            line: `${PIPEFAIL}${line(fixture.command)} | tee >(openssl dgst -sha256 > /dev/null) | cat > /dev/null`,
          },
        ],
        cleanup: fixture.cleanup,
      };
    },
  },
};
