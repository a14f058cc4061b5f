import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Files of random bytes for the large-output cases, written once per
// benchmark run into one temp directory and shared; removeBlobs() deletes
// them at the end. Random, so that nothing on the way (the page cache, a
// file system) can make them cheaper than real data.

export const MIB = 2 ** 20;
// The sizes of the large-output cases: their names say "256 MB" and "1 GB".
export const LARGE_BYTES = 256 * MIB;
export const HUGE_BYTES = 1024 * MIB;
const CHUNK = 64 * MIB;

let dir = null;
const blobs = new Map();

// { path, bytes, sha256, generationMs }
export function randomBlob(bytes) {
  if (!blobs.has(bytes)) blobs.set(bytes, writeBlob(bytes));
  return blobs.get(bytes);
}

// What was generated in this run, for the report.
export function describeBlobs() {
  return [...blobs.values()];
}

export function removeBlobs() {
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
  dir = null;
  blobs.clear();
}

function writeBlob(bytes) {
  dir ??= mkdtempSync(join(tmpdir(), 'dcache-bench-blobs-'));
  const path = join(dir, `random-${bytes / MIB}MiB.bin`);
  const started = performance.now();
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(CHUNK, bytes));
  const fd = openSync(path, 'wx', 0o600);
  try {
    for (let left = bytes; left > 0; ) {
      const chunk = buffer.subarray(0, Math.min(left, buffer.length));
      randomFillSync(chunk);
      hash.update(chunk);
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      left -= chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return { path, bytes, sha256: hash.digest('hex'), generationMs: performance.now() - started };
}

// A size in the binary units the report uses: 256 MiB, 1 GiB.
export function formatBytes(bytes) {
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${bytes / MIB} MiB`;
}
