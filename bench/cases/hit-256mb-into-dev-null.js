import { LARGE_BYTES, randomBlob } from '../lib/blobs.js';
import { verifyOneMissThenHits, recordCat } from '../lib/large-output.js';
import { devNullFd, expectSuccess, spawnMeasured, spawnNode } from '../lib/spawn.js';

// A hit that replays 256 MiB into /dev/null, against `cat blob > /dev/null`:
// no pipe, so what is left is reading, verifying and writing. Both processes
// get /dev/null as their stdout, opened by the runner. The goal:
// within 3×.
export const benchCase = {
  name: 'hit, 256 MB into /dev/null',
  baseline: '`cat blob > /dev/null`',
  goal: 3,
  defaultRuns: 12,
  defaultWarmup: 2,

  async setup(build) {
    const blob = randomBlob(LARGE_BYTES);
    const fixture = await recordCat(build, blob, 'dcache-bench-hit-null-');
    const options = { ...fixture.options, stdout: devNullFd() };
    return { build, fixture, options, hits: 1 };
  },

  runA: ({ fixture, options }) => spawnNode(fixture.hitArgs, options),
  runB: ({ fixture, options }) => spawnMeasured(fixture.command[0], fixture.command.slice(1), options),
  checkA(state, result) {
    expectSuccess('dcache hit > /dev/null', result);
    state.hits += 1;
  },
  checkB: (_state, result) => expectSuccess('cat blob > /dev/null', result),

  verify: (state) => verifyOneMissThenHits(state, "one hit's output, streamed into a SHA-256 by the harness, was the 256 MiB blob exactly"),

  teardown: ({ fixture }) => fixture.cleanup(),
};
