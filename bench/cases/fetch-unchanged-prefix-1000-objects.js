import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutput, createHitFixture } from '../lib/hit-fixture.js';
import { startMoto } from '../lib/moto.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';

// dcache fetch of a prefix of 1,000 S3 objects, all unchanged since the
// last fetch (one listing, no download) against a 1 KB hit that checks the
// same prefix (-w s3://…/p/: the same listing): what fetch costs beyond
// the listing (#32: at most 1.5×). Both against moto_server on 127.0.0.1.
const OBJECTS = 1000;

export const benchCase = {
  name: 'fetch, unchanged prefix of 1,000 S3 objects',
  baseline: 'a 1 KB hit checking the same prefix (-w)',
  goal: 1.5,
  defaultRuns: 10,

  async setup(build) {
    const moto = await startMoto();
    const state = { moto };
    try {
      await Promise.all(
        Array.from({ length: OBJECTS }, async (_, i) => {
          const response = await fetch(`${moto.url}/${moto.bucket}/p/${String(i).padStart(4, '0')}.csv`, { method: 'PUT', body: `row ${i}\n`.repeat(20) });
          if (!response.ok) throw new Error(`moto: PUT object ${i}: ${response.status}`);
        }),
      );
      const prefix = `s3://${moto.bucket}/p/`;
      state.root = mkdtempSync(join(tmpdir(), 'dcache-bench-fetch-'));
      state.fetchArgs = [build.bin, 'fetch', prefix, '-o', join(state.root, 'data')];
      state.fetchOptions = { cwd: state.root, env: cleanEnv({ ...moto.env, DCACHE_DIR: join(state.root, 'cache') }) };
      expectSuccess('the first fetch', spawnNode(state.fetchArgs, state.fetchOptions));
      if (readdirSync(join(state.root, 'data')).length !== OBJECTS) throw new Error(`the first fetch did not write ${OBJECTS} files`);
      state.hit = createHitFixture(build, { bytes: 1024, runOptions: ['-p', 'forever', '-w', prefix], env: moto.env });
      checkOutput('first replay', state.hit, state.hit.replay());
    } catch (error) {
      benchCase.teardown(state);
      throw error;
    }
    return state;
  },

  runA: ({ fetchArgs, fetchOptions }) => spawnNode(fetchArgs, fetchOptions),
  runB: ({ hit }) => hit.replay(),
  checkA: (_state, result) => {
    expectSuccess('fetch', result);
    if (result.stderr.length > 0) throw new Error(`fetch: unexpected stderr: ${result.stderr.toString().trim()}`);
  },
  checkB: ({ hit }, result) => checkOutput('hit checking the prefix', hit, result),

  verify({ fetchArgs, fetchOptions, hit }) {
    if (hit.runs() !== 1) throw new Error('a timed run of B was not a hit');
    const said = spawnNode([...fetchArgs.slice(0, 2), '-v', ...fetchArgs.slice(2)], fetchOptions).stderr.toString();
    if (!said.includes(`unchanged (${OBJECTS} objects)`)) throw new Error(`fetch -v did not find the prefix unchanged: ${said.trim()}`);
    return `every fetch found the ${OBJECTS} objects unchanged (one listing, no download); every B a hit`;
  },

  teardown({ moto, root, hit }) {
    hit?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
    moto?.stop();
  },
};
