import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './paths.js';
import { cleanEnv, expectSuccess, hashStdout, spawnIntoPipe, spawnNode } from './spawn.js';

// Shared by the large-output cases: a recorded entry of `cat <blob>`, and
// checks that read the cache directory or ask dcache itself.

// A temp cache directory holding one recorded entry of `cat <blob.path>`.
// The recording goes through a pipe, as the measured runs do; then one hit
// is streamed into a SHA-256 and compared with the blob's, untimed, which
// proves the replayed bytes once. `hitArgs` are the node arguments of a hit.
export async function recordCat(build, blob, prefix) {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const cacheDir = join(root, 'cache');
  const options = { cwd: REPO, env: cleanEnv({ DCACHE_DIR: cacheDir }) };
  const command = ['cat', blob.path];
  const hitArgs = [build.bin, 'run', '--', ...command];
  const fixture = { root, cacheDir, options, command, hitArgs, cleanup: () => rmSync(root, { recursive: true, force: true }) };
  try {
    expectSuccess('recording the entry', spawnIntoPipe([process.execPath, ...hitArgs], options));
    await expectSameBytes('the first hit', blob, hashStdout(process.execPath, hitArgs, options));
  } catch (error) {
    fixture.cleanup();
    throw error;
  }
  return fixture;
}

// Throws unless a run (from hashStdout) printed exactly the blob's bytes.
export async function expectSameBytes(label, blob, running) {
  const run = await running;
  expectSuccess(label, run);
  if (run.bytes !== blob.bytes || run.sha256 !== blob.sha256) {
    throw new Error(`${label}: printed ${run.bytes} bytes with SHA-256 ${run.sha256.slice(0, 12)}…, not the blob's ${blob.bytes} bytes`);
  }
}

// dcache's own count of hits and misses in a cache directory (stats --json).
// The verify() of a case of hits of one recorded entry: dcache's own
// counters say one miss (the recording) and `hits` hits.
export function verifyOneMissThenHits({ build, fixture, hits }, what) {
  const seen = countActivity(build, fixture.cacheDir);
  if (seen.misses !== 1 || seen.hits !== hits) {
    throw new Error(`dcache counted ${seen.hits} hits and ${seen.misses} misses, not ${hits} and 1`);
  }
  return `the command executed once (dcache stats: 1 miss, ${hits} hits); ${what}`;
}

export function countActivity(build, cacheDir) {
  const result = spawnNode([build.bin, 'stats', '--json'], { cwd: REPO, env: cleanEnv({ DCACHE_DIR: cacheDir }) });
  expectSuccess('dcache stats --json', result);
  const { hits, misses } = JSON.parse(result.stdout.toString('utf8'));
  return { hits, misses };
}

// The one entry of a cache directory and its stdout blob, read straight
// from the files (the layout of src/store/local/local-store.ts): proves a
// run recorded.
export function readOnlyEntry(cacheDir) {
  const entries = join(cacheDir, 'entries');
  const manifests = existsSync(entries)
    ? readdirSync(entries).flatMap((shard) => readdirSync(join(entries, shard)).map((name) => join(entries, shard, name)))
    : [];
  if (manifests.length !== 1) throw new Error(`${cacheDir} holds ${manifests.length} entries, not 1`);
  const manifest = JSON.parse(readFileSync(manifests[0], 'utf8'));
  const blobPath = manifest.stdout ? join(cacheDir, 'blobs', manifest.stdout.hash.slice(0, 2), manifest.stdout.hash) : null;
  return { manifest, blobPath, blobBytes: blobPath ? statSync(blobPath).size : 0 };
}

// A temp cache directory holding one recorded entry whose command writes
// the blob's bytes to big.bin, declared with -o, and appends a line to a
// counter file each time it really runs. big.bin is deleted after the
// recording, so the next `hitArgs` run restores it. `storedPath` is the
// blob the store keeps of it.
export function recordOutputFile(build, blob, prefix) {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  try {
    const work = join(root, 'work');
    mkdirSync(work);
    const counter = join(root, 'runs');
    writeFileSync(counter, '');
    const cacheDir = join(root, 'cache');
    const command = ['/bin/sh', '-c', 'echo ran >> "$1"; cat "$2" > big.bin', 'dcache-bench', counter, blob.path];
    const options = { cwd: work, env: cleanEnv({ DCACHE_DIR: cacheDir }) };
    const hitArgs = [build.bin, 'run', '-o', 'big.bin', '--', ...command];
    expectSuccess('recording the entry', spawnNode(hitArgs, options));
    const record = readOnlyEntry(cacheDir).manifest.outputs.find((o) => o.path === 'big.bin');
    if (!record || record.blob.size !== blob.bytes) throw new Error('the recording did not store big.bin whole');
    const output = join(work, 'big.bin');
    rmSync(output);
    return {
      root,
      work,
      hitArgs,
      options,
      output,
      storedPath: join(cacheDir, 'blobs', record.blob.hash.slice(0, 2), record.blob.hash),
      runs: () => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length,
      cleanup,
    };
  } catch (error) {
    cleanup();
    throw error;
  }
}
