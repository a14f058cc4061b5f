import { spawnSync } from 'node:child_process';
import { checkOutput, createHitFixture } from '../lib/hit-fixture.js';
import { startMoto } from '../lib/moto.js';

// A hit that checks one S3 object (-w s3://…) against the recipe it
// replaces: a --watch-cmd probe that runs the AWS CLI (`aws s3api
// head-object`) on every call.
export const benchCase = {
  name: 'hit, 1 KB, checking one S3 object',
  baseline: "`--watch-cmd 'aws s3api head-object …'`",
  goal: 1,
  defaultRuns: 10,

  async setup(build) {
    if (spawnSync('/bin/sh', ['-c', 'command -v aws'], { stdio: 'ignore' }).status !== 0) {
      throw new Error('the AWS CLI (aws) is not installed: the baseline of this case is its probe');
    }
    const moto = await startMoto();
    const state = { moto };
    try {
      state.watching = createHitFixture(build, { bytes: 1024, runOptions: ['-p', 'forever', '-w', `s3://${moto.bucket}/${moto.key}`], env: moto.env });
      const probe = `aws s3api head-object --bucket ${moto.bucket} --key ${moto.key} --query ETag`;
      state.probing = createHitFixture(build, { bytes: 1024, runOptions: ['-p', 'forever', '--watch-cmd', probe], env: moto.env });
      for (const fixture of [state.watching, state.probing]) {
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
  runB: ({ probing }) => probing.replay(),
  checkA: ({ watching }, result) => checkOutput('hit checking s3://', watching, result),
  checkB: ({ probing }, result) => checkOutput('hit with the aws probe', probing, result),

  verify({ watching, probing }) {
    if (watching.runs() !== 1 || probing.runs() !== 1) throw new Error('a timed run was not a hit');
    return 'every run a hit; B ran the AWS CLI once per call';
  },

  teardown({ moto, watching, probing }) {
    watching?.cleanup();
    probing?.cleanup();
    moto?.stop();
  },
};
