import { s3WatchCase } from '../lib/s3-watch-case.js';

// A hit that checks one S3 object (-w s3://…, one HEAD to a local S3 API
// server) against the same hit checking nothing: what watching an object
// costs. Both entries are recorded first; every timed run is a hit.
export const benchCase = s3WatchCase({
  name: 'hit, 1 KB, checking one S3 object',
  baseline: 'the same hit checking nothing',
  goal: 1.5,
  defaultRuns: 30,
  baselineOptions: () => [],
  labelB: 'hit',
  note: 'every run a hit; A sent one signed HEAD to moto_server on 127.0.0.1',
});
