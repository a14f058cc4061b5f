import { readSync, writeSync } from 'node:fs';
import type { BlobHash, Hasher } from '../hash.js';
import { createStreamHash } from '../hash.js';

const CHUNK = 1 << 20;

// Copies everything from one open file to another through one reused
// 1 MiB buffer, hashing the bytes on the way.
export function copyAndHash(input: number, output: number, hasher: Hasher): { hash: BlobHash; size: number } {
  const hash = createStreamHash(hasher);
  const buffer = Buffer.allocUnsafe(CHUNK);
  let size = 0;
  for (;;) {
    const n = readSync(input, buffer, 0, CHUNK, null);
    if (n === 0) break;
    const chunk = buffer.subarray(0, n);
    hash.update(chunk);
    for (let off = 0; off < n; ) off += writeSync(output, chunk, off, n - off);
    size += n;
  }
  return { hash: hash.digest(), size };
}
