import { read, readSync, write, writeSync } from 'node:fs';
import type { BlobHash } from '../../core/hash.js';
import { createStreamHash } from '../../core/hash.js';

const CHUNK = 1 << 20;
const HASH_CHUNK = 256 << 10;

// Copies everything from one open file (from its start, whatever its
// position) to another through one reused 1 MiB buffer, hashing the bytes
// on the way.
export function copyAndHash(input: number, output: number): { hash: BlobHash; size: number } {
  return readHashing(input, CHUNK, (chunk) => {
    for (let off = 0; off < chunk.length; ) off += writeSync(output, chunk, off, chunk.length - off);
  });
}

// Hashes everything in an open file, from its start, in chunks small enough
// to stay in the CPU's cache between the read and the hash.
export function hashOpenFile(input: number): { hash: BlobHash; size: number } {
  return readHashing(input, HASH_CHUNK);
}

// Reads a whole open file from its start in chunks of `chunkSize`, hashing
// each and handing it to `each`.
function readHashing(input: number, chunkSize: number, each?: (chunk: Buffer) => void): { hash: BlobHash; size: number } {
  const hash = createStreamHash();
  const buffer = Buffer.allocUnsafe(chunkSize);
  let size = 0;
  for (;;) {
    const n = readSync(input, buffer, 0, chunkSize, size);
    if (n === 0) break;
    const chunk = buffer.subarray(0, n);
    hash.update(chunk);
    each?.(chunk);
    size += n;
  }
  return { hash: hash.digest(), size };
}

// The same copy off the main thread, a chunk at a time: the event loop
// keeps turning (a lock's heartbeat) however large the file is.
export function copyAndHashAsync(input: number, output: number): Promise<{ hash: BlobHash; size: number }> {
  return readHashingAsync(input, async (chunk) => {
    for (let off = 0; off < chunk.length; ) {
      off += await new Promise<number>((resolve, reject) =>
        write(output, chunk, off, chunk.length - off, null, (err, bytes) => (err ? reject(err) : resolve(bytes))),
      );
    }
  });
}

// hashOpenFile off the main thread: a long hash (dcache verify, a blob
// whose hashing thread failed) answers Ctrl-C between reads.
export function hashOpenFileAsync(input: number): Promise<{ hash: BlobHash; size: number }> {
  return readHashingAsync(input);
}

// readHashing through the thread pool, a MiB at a time.
async function readHashingAsync(input: number, each?: (chunk: Buffer) => Promise<void>): Promise<{ hash: BlobHash; size: number }> {
  const hash = createStreamHash();
  const buffer = Buffer.allocUnsafe(CHUNK);
  let size = 0;
  for (;;) {
    const n = await new Promise<number>((resolve, reject) =>
      read(input, buffer, 0, CHUNK, size, (err, bytes) => (err ? reject(err) : resolve(bytes))),
    );
    if (n === 0) break;
    const chunk = buffer.subarray(0, n);
    hash.update(chunk);
    await each?.(chunk);
    size += n;
  }
  return { hash: hash.digest(), size };
}
