import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { blobBytes, generatedStore, MANY_ENTRIES } from '../lib/big-store.js';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';

// Entries each run evicts: every generated entry has its own 256-byte blob,
// so lowering --max-size by this many blobs evicts exactly this many.
const EVICT_PER_RUN = 100;
const GENERATED_BLOB = 256;

// `dcache gc --max-size` over a cache of 100,000 entries. Each run lowers the
// limit by 100 blobs, so each reads every entry, sorts them by last use,
// evicts the 100 least recently used and sweeps every blob, keeping the rest.
// The goal: under 20 s on this machine.
export const benchCase = {
  name: 'gc --max-size, 100,000 entries',
  baseline: 'none (time of A alone)',
  goalSeconds: 20,
  defaultRuns: 5,
  defaultWarmup: 1,

  async setup(build) {
    const store = await generatedStore(build, MANY_ENTRIES);
    return {
      store,
      total: blobBytes(store.cacheDir),
      runs: 0,
      evicted: [],
      bin: build.bin,
      options: { cwd: REPO, env: cleanEnv({ DCACHE_DIR: store.cacheDir }) },
    };
  },

  runA(state) {
    state.runs += 1;
    const maxSize = state.total - state.runs * EVICT_PER_RUN * GENERATED_BLOB;
    // in bytes, with the unit dcache requires
    return spawnNode([state.bin, 'gc', '--max-size', `${maxSize}B`], state.options);
  },

  // Untimed: the run evicted exactly the 100 entries beyond the limit.
  checkA(state, result) {
    expectSuccess('dcache gc', result);
    const report = /: (\d+) entr(?:y|ies), (\d+) blobs?, /.exec(result.stdout.toString('utf8'));
    if (!report) throw new Error(`dcache gc: unexpected report: ${result.stdout.toString('utf8').trim()}`);
    const [entries, blobs] = [Number(report[1]), Number(report[2])];
    if (entries !== EVICT_PER_RUN || blobs !== EVICT_PER_RUN) {
      throw new Error(`dcache gc evicted ${entries} entries and ${blobs} blobs, not ${EVICT_PER_RUN} of each`);
    }
    state.evicted.push(entries);
  },

  verify({ evicted, store }) {
    const left = countEntries(store.cacheDir);
    return `each run (warm-up included) evicted the ${EVICT_PER_RUN} least recently used entries and their blobs and kept the rest; ${left.toLocaleString('en-US')} entries were left after the last run`;
  },
};

function countEntries(cacheDir) {
  const entries = join(cacheDir, 'entries');
  return readdirSync(entries).reduce((n, shard) => n + readdirSync(join(entries, shard)).length, 0);
}
