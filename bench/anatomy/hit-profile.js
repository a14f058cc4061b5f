import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkOutput } from '../lib/hit-fixture.js';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';
import { summariseProfiles } from './cpu-profile.js';

// `node --cpu-prof` of `runs` hits and as many `node -e 0`, alternated, each
// into its own directory under `dir`; summarised per process by
// bench/anatomy/cpu-profile.js, so that the hit's buckets can be read
// against the floor's.
export function profileHit(fixture, dir, { runs, intervalUs }, classifier) {
  const flags = (sub) => ['--cpu-prof', '--cpu-prof-dir', join(dir, sub), '--cpu-prof-interval', String(intervalUs)];
  for (let i = 0; i < runs; i++) {
    checkOutput('profiled dcache hit', fixture, spawnNode([...flags('hit'), ...fixture.args], fixture.options));
    expectSuccess('profiled node -e 0', spawnNode([...flags('floor'), '-e', '0'], { cwd: REPO, env: cleanEnv() }));
  }
  const list = (sub) => readdirSync(join(dir, sub)).map((name) => join(dir, sub, name));
  return {
    runs,
    intervalUs,
    hit: summariseProfiles(list('hit'), classifier),
    floor: summariseProfiles(list('floor'), classifier),
  };
}
