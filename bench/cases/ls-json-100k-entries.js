import { generatedStore, MANY_ENTRIES } from '../lib/big-store.js';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';

// `dcache ls --json` over a cache of 100,000 entries, the whole JSON read
// back through a pipe. The goal: under 5 s on this machine.
export const benchCase = {
  name: 'ls --json, 100,000 entries',
  baseline: 'none (time of A alone)',
  goalSeconds: 5,
  defaultRuns: 5,
  defaultWarmup: 1,

  async setup(build) {
    const store = await generatedStore(build, MANY_ENTRIES);
    return { store, args: [build.bin, 'ls', '--json'], options: { cwd: REPO, env: cleanEnv({ DCACHE_DIR: store.cacheDir }) }, listed: [] };
  },

  runA: ({ args, options }) => spawnNode(args, options),

  // Untimed: every generated entry is listed, in the versioned shape.
  checkA(state, result) {
    expectSuccess('dcache ls --json', result);
    const report = JSON.parse(result.stdout.toString('utf8'));
    if (report.version !== 1 || !Array.isArray(report.entries)) throw new Error('dcache ls --json: not a version 1 listing');
    if (report.entries.length < MANY_ENTRIES) {
      throw new Error(`dcache ls --json listed ${report.entries.length} entries, not the ${MANY_ENTRIES} generated`);
    }
    state.listed.push(report.entries.length);
    state.jsonBytes = result.stdout.length;
  },

  verify({ listed, jsonBytes }) {
    return `every run listed ${listed[0].toLocaleString('en-US')} entries, ${(jsonBytes / 2 ** 20).toFixed(0)} MiB of JSON`;
  },
};
