import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONCURRENT, createMissRounds } from '../lib/miss-rounds.js';

// 16 `dcache run` of one slow command started at once, on an empty cache:
// one runs the command, the others wait for it and replay its entry (single
// flight). Against one such miss alone. Every round has its own cache
// directory and counter file; the command appends to the counter each time
// it really runs. The goal: within 1.5× of one miss, and the command
// executed exactly once per round.
export const concurrentMisses = {
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
