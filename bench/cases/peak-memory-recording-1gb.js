import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { MIB } from '../lib/blobs.js';
import { readOnlyEntry } from '../lib/large-output.js';
import { REPO } from '../lib/paths.js';
import { peakMemoryCase } from '../lib/peak-memory.js';
import { cleanEnv, expectSuccess } from '../lib/spawn.js';

// Peak memory of dcache recording 1 GiB through a pipe, against recording
// 256 MiB (bench/lib/peak-memory.js).
export const benchCase = peakMemoryCase({
  name: 'peak memory, recording 1 GB',
  verb: 'recording',
  // Every run records into a new, empty cache directory.
  prepare() {},
  runArgs(state, blob) {
    state.cacheDir = join(state.root, `cache-${state.serial}`);
    return { args: [state.build.bin, 'run', '--', 'cat', blob.path], options: { cwd: REPO, env: cleanEnv({ DCACHE_DIR: state.cacheDir }) } };
  },
  check(state, result, blob) {
    expectSuccess(`dcache recording ${blob.bytes / MIB} MiB`, result);
    const { blobBytes } = readOnlyEntry(state.cacheDir);
    if (blobBytes !== blob.bytes) throw new Error(`the recorded stdout blob has ${blobBytes} bytes, not ${blob.bytes}`);
    rmSync(state.cacheDir, { recursive: true, force: true });
  },
  verify: () => 'every run recorded a new entry into an empty cache directory, its stdout blob the whole output (1 GiB or 256 MiB)',
});
