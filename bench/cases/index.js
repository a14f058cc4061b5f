import { hitSmall } from './hit-small.js';

// The benchmark cases, in the order they run and are reported. Each case:
//   name, baseline     what A and B are, as shown in the table
//   goal               the ratio A/B (median of per-pair ratios) to stay under
//   defaultRuns        timed A/B pairs when BENCH_RUNS is not set
//   setup(build)       builds the state the runs share; may throw. `build`
//                      is the snapshot of the CLI to run: { bin, dist }
//   runA(state), runB(state)
//                      one measured run each (sync or async); the harness times
//                      the call, so do nothing else in them
//   checkA(state, result), checkB(state, result)
//                      optional; called untimed after each run, throw if wrong
//   verify(state)      after all runs: throw if the measurement was invalid,
//                      else return a one-line note for the report
//   teardown(state)    optional; always called
export const cases = [hitSmall];
