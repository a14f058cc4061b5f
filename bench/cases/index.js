import { concurrentMisses } from './concurrent-misses.js';
import { gcMany } from './gc-many.js';
import { hashLarge } from './hash-large.js';
import { hitLargeDevNull } from './hit-large-devnull.js';
import { hitLargePipe } from './hit-large-pipe.js';
import { hitMany } from './hit-many.js';
import { hitS3CliProbe, hitS3Object } from './hit-s3-object.js';
import { hitSmall } from './hit-small.js';
import { libraryHit } from './library-hit.js';
import { lsJsonMany } from './ls-json-many.js';
import { memoryRecord, memoryReplay } from './memory-large.js';
import { missLargePipe } from './miss-large-pipe.js';
import { restoreLarge } from './restore-large.js';

// The benchmark cases, in the order they run and are reported. Each case:
//   name, baseline     what A and B are, as shown in the table
//   goal               the ratio A/B (median of per-pair ratios) to stay under
//   goalSeconds        instead of goal, for a case without B: the median
//                      time of A, in seconds, to stay under
//   goalMaxMB, metric(state, result)
//                      instead of goal: A and B are measured by metric (in
//                      MB; called after the check) rather than by time, and
//                      every A must stay under goalMaxMB
//   defaultRuns        timed A/B pairs (or A runs) when BENCH_RUNS is not set
//   defaultWarmup      optional; warm-up pairs when BENCH_WARMUP is not set
//                      (else the runner's default)
//   setup(build)       builds the state the runs share; may throw. `build`
//                      is the snapshot of the CLI to run: { bin, dist } and
//                      `sources`, the snapshot of the repository
//   runA(state), runB(state)
//                      one measured run each (sync or async); the harness times
//                      the call, so do nothing else in them. runB is left
//                      out by cases with goalSeconds
//   checkA(state, result), checkB(state, result)
//                      optional; called untimed after each run, throw if wrong
//   verify(state)      after all runs: throw if the measurement was invalid,
//                      else return a one-line note for the report
//   teardown(state)    optional; always called
// The 100,000-entry cases share one generated cache (bench/lib/big-store.js);
// gc runs after them because it evicts entries. The large-output cases
// (issue 7) share files of random bytes (bench/lib/blobs.js).
export const cases = [
  hitSmall,
  libraryHit,
  hitS3Object,
  hitS3CliProbe,
  lsJsonMany,
  hitMany,
  gcMany,
  hitLargePipe,
  hitLargeDevNull,
  missLargePipe,
  hashLarge,
  memoryRecord,
  memoryReplay,
  concurrentMisses,
  restoreLarge,
];
