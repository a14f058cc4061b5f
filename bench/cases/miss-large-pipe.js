import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBlob } from '../lib/blobs.js';
import { readOnlyEntry } from '../lib/large-output.js';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, spawnIntoPipe } from '../lib/spawn.js';
import { LARGE_BYTES } from './hit-large-pipe.js';

// A miss that records 256 MiB while streaming it into a pipe, against the
// command alone into the same pipe: `dcache run -- cat blob | cat > /dev/null`
// with a fresh cache directory each time (so every A records, blob included,
// with no identical blob already stored) against `cat blob | cat > /dev/null`.
// The goal: within 1.5×.
export const missLargePipe = {
  name: 'miss, recording 256 MB',
  baseline: 'the command alone into the same pipe (`cat blob | cat`)',
  goal: 1.5,
  defaultRuns: 10,
  defaultWarmup: 1,

  setup(build) {
    const blob = randomBlob(LARGE_BYTES);
    const root = mkdtempSync(join(tmpdir(), 'dcache-bench-miss-'));
    const state = { build, blob, root, serial: 0, recorded: 0, checkedBytes: false, command: ['cat', blob.path] };
    nextCache(state);
    return state;
  },

  runA: ({ build, command, options }) => spawnIntoPipe([process.execPath, build.bin, 'run', '--', ...command], options),
  runB: ({ command, options }) => spawnIntoPipe(command, options),

  // Untimed: the run recorded one entry whose stdout blob is the whole
  // output (once, its bytes are compared with the blob's); then the next A
  // gets a new, empty cache directory.
  checkA(state, result) {
    expectSuccess('dcache miss | cat', result);
    const { manifest, blobPath, blobBytes } = readOnlyEntry(state.cacheDir);
    if (manifest.stdout?.size !== LARGE_BYTES || blobBytes !== LARGE_BYTES) {
      throw new Error(`the recorded stdout blob has ${blobBytes} bytes, not ${LARGE_BYTES}`);
    }
    if (!state.checkedBytes) {
      const sha256 = createHash('sha256').update(readFileSync(blobPath)).digest('hex');
      if (sha256 !== state.blob.sha256) throw new Error('the recorded stdout blob is not the bytes the command printed');
      state.checkedBytes = true;
    }
    state.recorded += 1;
    rmSync(state.cacheDir, { recursive: true, force: true });
    nextCache(state);
  },
  checkB: (_state, result) => expectSuccess('cat blob | cat', result),

  verify({ recorded }) {
    return `every A run (${recorded}, warm-up included) recorded a new entry into an empty cache directory, its stdout blob 256 MiB; the first one's bytes were compared with the blob's (SHA-256)`;
  },

  teardown: ({ root }) => rmSync(root, { recursive: true, force: true }),
};

function nextCache(state) {
  state.serial += 1;
  state.cacheDir = join(state.root, `cache-${state.serial}`);
  state.options = { cwd: REPO, env: cleanEnv({ DCACHE_DIR: state.cacheDir }) };
}
