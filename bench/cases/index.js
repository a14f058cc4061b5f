// The benchmark cases: one file per goal of BENCHMARKS.md, named after it,
// each exporting `benchCase`. Listed in the order they run and are
// reported. Each case:
//   name, baseline     what A and B are, as shown in the tables
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
//   hyperfine          optional; the same goal timed by hyperfine from
//                      outside (bench/hyperfine.js): { rounds, runs,
//                      setup(build) } where setup returns the command lines
//                      { a, b, prepareA?, prepareB?, floors?, check?, cleanup }
// Every case also gets `file`, its path from the repository's root, which
// BENCHMARKS.md links the goal to.
// The 100,000-entry cases share one generated cache (bench/lib/big-store.js);
// gc runs after them because it evicts entries. The large-output cases share
// files of random bytes (bench/lib/blobs.js).
const FILES = [
  'hit-1kb-output.js',
  'hit-1kb-output-node-24.js',
  'library-import-one-hit.js',
  'hit-1kb-checking-s3-object.js',
  'hit-1kb-checking-s3-object-vs-aws-cli.js',
  'fetch-unchanged-prefix-1000-objects.js',
  'ls-json-100k-entries.js',
  'hit-1kb-output-100k-entries.js',
  'gc-max-size-100k-entries.js',
  'hit-256mb-output-into-a-pipe.js',
  'hit-256mb-into-dev-null.js',
  'miss-recording-256mb.js',
  'hash-256mb-sha256.js',
  'peak-memory-recording-1gb.js',
  'peak-memory-replaying-1gb.js',
  '16-concurrent-identical-misses.js',
  '1gb-output-file-restore.js',
];

export const cases = await Promise.all(
  FILES.map(async (file) => ({ ...(await import(`./${file}`)).benchCase, file: `bench/cases/${file}` })),
);
