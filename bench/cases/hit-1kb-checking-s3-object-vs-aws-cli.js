import { spawnSync } from 'node:child_process';
import { s3WatchCase } from '../lib/s3-watch-case.js';

// A hit that checks one S3 object (-w s3://…) against the recipe it
// replaces: a --watch-cmd probe that runs the AWS CLI (`aws s3api
// head-object`) on every call.
export const benchCase = s3WatchCase({
  name: 'hit, 1 KB, checking one S3 object',
  baseline: "`--watch-cmd 'aws s3api head-object …'`",
  goal: 1,
  defaultRuns: 10,
  before() {
    if (spawnSync('/bin/sh', ['-c', 'command -v aws'], { stdio: 'ignore' }).status !== 0) {
      throw new Error('the AWS CLI (aws) is not installed: the baseline of this case is its probe');
    }
  },
  baselineOptions: (moto) => ['--watch-cmd', `aws s3api head-object --bucket ${moto.bucket} --key ${moto.key} --query ETag`],
  labelB: 'hit with the aws probe',
  note: 'every run a hit; B ran the AWS CLI once per call',
});
