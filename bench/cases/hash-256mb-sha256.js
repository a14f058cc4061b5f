import { LARGE_BYTES, randomBlob } from '../lib/blobs.js';
import { expectSuccess, spawnMeasured } from '../lib/spawn.js';

// Blobs are addressed by SHA-256 (node:crypto) rather than xxh64
// (xxhash-wasm), which a writer of a shared cache could collide. This case
// measures what that costs: a Node process that streams the 256 MiB blob
// through SHA-256, against one that streams it through xxh64, the way
// dcache read blobs before. The goal: no slower (SHA-256 runs on the CPU's
// SHA extensions where it has them).
const HASH_SCRIPT = `
const { openSync, readSync } = require('node:fs');
const [, kind, path] = process.argv;
const run = (update, digest) => {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(1 << 20);
  for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) update(buffer.subarray(0, n));
  process.stdout.write(digest() + '\\n');
};
if (kind === 'sha256') {
  const hash = require('node:crypto').createHash('sha256');
  run((b) => hash.update(b), () => hash.digest('hex'));
} else {
  require('xxhash-wasm')().then((h) => {
    const state = h.create64();
    run((b) => state.update(b), () => state.digest().toString(16));
  });
}
`;

export const benchCase = {
  name: 'hash 256 MB: SHA-256 (node:crypto)',
  baseline: 'xxh64 (xxhash-wasm), as before',
  goal: 1,
  defaultRuns: 10,
  defaultWarmup: 2,

  setup(build) {
    const blob = randomBlob(LARGE_BYTES);
    // xxhash-wasm is resolved from the snapshot's node_modules
    const options = { cwd: build.root, env: { ...process.env } };
    return { blob, options };
  },

  runA: ({ blob, options }) => spawnMeasured(process.execPath, ['-e', HASH_SCRIPT, 'sha256', blob.path], options),
  runB: ({ blob, options }) => spawnMeasured(process.execPath, ['-e', HASH_SCRIPT, 'xxh64', blob.path], options),
  checkA({ blob }, result) {
    expectSuccess('sha256 of the blob', result);
    if (result.stdout.toString().trim() !== blob.sha256) throw new Error('the SHA-256 does not match the blob');
  },
  checkB: (_state, result) => expectSuccess('xxh64 of the blob', result),

  verify: () => 'both read the same 256 MiB file in 1 MiB reads; the SHA-256 checked against the one taken when the file was written',
};
