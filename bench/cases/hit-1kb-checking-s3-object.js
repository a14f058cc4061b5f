import { checkOutput, createHitFixture } from '../lib/hit-fixture.js';
import { startMoto } from '../lib/moto.js';

// A hit that checks one S3 object (-w s3://…, one HEAD to a local S3 API
// server) against the same hit checking nothing: what watching an object
// costs. Both entries are recorded first; every timed run is a hit.
export const benchCase = {
  name: 'hit, 1 KB, checking one S3 object',
  baseline: 'the same hit checking nothing',
  goal: 1.5,
  defaultRuns: 30,

  async setup(build) {
    const moto = await startMoto();
    const watched = `s3://${moto.bucket}/${moto.key}`;
    const state = { moto };
    try {
      state.watching = createHitFixture(build, { bytes: 1024, runOptions: ['-p', 'forever', '-w', watched], env: moto.env });
      state.plain = createHitFixture(build, { bytes: 1024, runOptions: ['-p', 'forever'], env: moto.env });
      for (const fixture of [state.watching, state.plain]) {
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
  runB: ({ plain }) => plain.replay(),
  checkA: ({ watching }, result) => checkOutput('hit checking s3://', watching, result),
  checkB: ({ plain }, result) => checkOutput('hit', plain, result),

  verify({ watching, plain }) {
    if (watching.runs() !== 1 || plain.runs() !== 1) throw new Error('a timed run was not a hit');
    return 'every run a hit; A sent one signed HEAD to moto_server on 127.0.0.1';
  },

  teardown({ moto, watching, plain }) {
    watching?.cleanup();
    plain?.cleanup();
    moto?.stop();
  },
};
