import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LARGE_BYTES, randomBlob } from '../lib/blobs.js';
import { readOnlyEntry } from '../lib/large-output.js';
import { REPO } from '../lib/paths.js';
import { line, PIPEFAIL, withCache } from '../lib/shell-line.js';
import { cleanEnv, expectSuccess, spawnIntoPipe } from '../lib/spawn.js';

// A miss that records 256 MiB while streaming it into a pipe, against the
// command alone into the same pipe: `dcache run -- cat blob | cat > /dev/null`
// with a fresh cache directory each time (so every A records, blob included,
// with no identical blob already stored) against `cat blob | cat > /dev/null`.
// The goal: within 1.5×.
export const benchCase = {
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

  // The outside check, which also times in its rounds the same work done
  // by C tools (F): the output through tee into a file that is then synced
  // to disk, as a recording must before its entry exists; and the same
  // again with the SHA-256 of every byte (by openssl, reading a third copy
  // from tee) that a recording computes.
  hyperfine: {
    rounds: 5,
    runs: 3,
    setup(build) {
      const blob = randomBlob(LARGE_BYTES);
      const root = mkdtempSync(join(tmpdir(), 'dcache-hyperfine-miss-'));
      const cacheDir = join(root, 'cache');
      const command = ['cat', blob.path];
      const floorFile = join(root, 'floor.bin');
      return {
        // every A records into an empty cache directory
        prepareA: line(['rm', '-rf', cacheDir]),
        a: `${PIPEFAIL}${withCache(cacheDir, [build.bin, 'run', '--', ...command])} | cat > /dev/null`,
        b: `${PIPEFAIL}${line(command)} | cat > /dev/null`,
        floors: [
          {
            what: '`cat blob | tee file | cat`, then `sync -d file`',
            prepare: line(['rm', '-f', floorFile]),
            line: `${PIPEFAIL}${line(command)} | ${line(['tee', floorFile])} | cat > /dev/null && ${line(['sync', '-d', floorFile])}`,
          },
          {
            what: 'the same, tee also feeding `openssl dgst -sha256`',
            prepare: line(['rm', '-f', floorFile]),
            line:
              `${PIPEFAIL}exec 3> >(openssl dgst -sha256 > /dev/null); hash=$!; ` +
              `${line(command)} | ${line(['tee', floorFile, '/dev/fd/3'])} | cat > /dev/null && exec 3>&- && wait $hash && ${line(['sync', '-d', floorFile])}`,
          },
        ],
        // the last recording holds the whole output, byte for byte
        check() {
          const { manifest, blobPath } = readOnlyEntry(cacheDir);
          const sha256 = createHash('sha256').update(readFileSync(blobPath)).digest('hex');
          if (manifest.stdout?.size !== blob.bytes || sha256 !== blob.sha256) throw new Error('the last recording is not the command output');
        },
        cleanup: () => rmSync(root, { recursive: true, force: true }),
      };
    },
  },
};

function nextCache(state) {
  state.serial += 1;
  state.cacheDir = join(state.root, `cache-${state.serial}`);
  state.options = { cwd: REPO, env: cleanEnv({ DCACHE_DIR: state.cacheDir }) };
}
