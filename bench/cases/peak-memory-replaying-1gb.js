import { join } from 'node:path';
import { MIB } from '../lib/blobs.js';
import { countActivity, expectSameBytes } from '../lib/large-output.js';
import { REPO } from '../lib/paths.js';
import { peakMemoryCase } from '../lib/peak-memory.js';
import { cleanEnv, expectSuccess, hashStdout, spawnIntoPipe } from '../lib/spawn.js';

// Peak memory of dcache replaying 1 GiB through a pipe, against replaying
// 256 MiB (bench/lib/peak-memory.js).
export const benchCase = peakMemoryCase({
  name: 'peak memory, replaying 1 GB',
  verb: 'replaying',
  // One cache directory with both entries, each checked once: its first hit
  // is streamed into SHA-256 and compared with the blob's.
  async prepare(state) {
    state.cacheDir = join(state.root, 'cache');
    state.options = { cwd: REPO, env: cleanEnv({ DCACHE_DIR: state.cacheDir }) };
    for (const blob of [state.huge, state.large]) {
      const args = [state.build.bin, 'run', '--', 'cat', blob.path];
      expectSuccess('recording the entry', spawnIntoPipe([process.execPath, ...args], state.options));
      await expectSameBytes(`the first hit of ${blob.bytes / MIB} MiB`, blob, hashStdout(process.execPath, args, state.options));
    }
    state.hits = 2;
  },
  runArgs: (state, blob) => ({ args: [state.build.bin, 'run', '--', 'cat', blob.path], options: state.options }),
  check(state, result, blob) {
    expectSuccess(`dcache replaying ${blob.bytes / MIB} MiB`, result);
    state.hits += 1;
  },
  verify({ build, cacheDir, hits }) {
    const seen = countActivity(build, cacheDir);
    if (seen.misses !== 2 || seen.hits !== hits) {
      throw new Error(`dcache counted ${seen.hits} hits and ${seen.misses} misses, not ${hits} and 2`);
    }
    return `each command executed once (dcache stats: 2 misses, ${hits} hits); the first hit of each, streamed into SHA-256, replayed its blob exactly`;
  },
});
