import { checkOutput, createHitFixture } from './hit-fixture.js';
import { startMoto } from './moto.js';

// A case whose A is a 1 KB hit that checks one S3 object on moto_server
// (-w s3://…, one signed HEAD) and whose B is the same hit with other run
// options (`baselineOptions(moto)`): checking nothing, or a probe. Both
// entries are recorded first; every timed run is a hit.
export function s3WatchCase({ name, baseline, goal, defaultRuns, baselineOptions, before, labelB, note }) {
  const benchCase = {
    name,
    baseline,
    goal,
    defaultRuns,

    async setup(build) {
      before?.();
      const moto = await startMoto();
      const state = { moto };
      try {
        state.watching = createHitFixture(build, { bytes: 1024, runOptions: ['-p', 'forever', '-w', `s3://${moto.bucket}/${moto.key}`], env: moto.env });
        state.other = createHitFixture(build, { bytes: 1024, runOptions: ['-p', 'forever', ...baselineOptions(moto)], env: moto.env });
        for (const fixture of [state.watching, state.other]) {
          checkOutput('first replay', fixture, fixture.replay());
          if (fixture.runs() !== 1) throw new Error('the first replay ran the command: the entry was not a hit');
        }
      } catch (error) {
        benchCase.teardown(state);
        throw error;
      }
      return state;
    },

    runA: ({ watching }) => watching.replay(),
    runB: ({ other }) => other.replay(),
    checkA: ({ watching }, result) => checkOutput('hit checking s3://', watching, result),
    checkB: ({ other }, result) => checkOutput(labelB, other, result),

    verify({ watching, other }) {
      if (watching.runs() !== 1 || other.runs() !== 1) throw new Error('a timed run was not a hit');
      return note;
    },

    teardown({ moto, watching, other }) {
      watching?.cleanup();
      other?.cleanup();
      moto?.stop();
    },
  };
  return benchCase;
}
