import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobHash } from '../../../../src/core/hash.js';
import { BlobWriter } from '../../../../src/store/local/blob-writer.js';
import { followFile, type FollowingHash } from '../../../../src/store/local/file-hasher.js';

// A blob past its threshold is hashed by a thread that reads its temp file
// behind the writes (file-hasher.ts). Whatever the sizes of the writes and
// wherever the threshold falls, the hash is the SHA-256 of the bytes; and a
// thread that fails leaves the writer to hash the file itself.

let dir: string;
let n = 0;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dcache-blob-writer-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

// Writes `chunks` as Capture does: waiting for the buffer to drain.
async function record(writer: BlobWriter, chunks: Buffer[]) {
  for (const chunk of chunks) if (!writer.write(chunk)) await writer.drained();
  return writer.finish();
}

// chunks of up to 96 KiB, a few of them large, some empty
const chunks = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 4096 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 96 * 1024 }) },
  ).chain((size) => fc.constant(size)),
  { maxLength: 40 },
).map((sizes) => sizes.map((size, i) => Buffer.alloc(size, (i * 37 + size) % 251)));

describe('a BlobWriter', () => {
  it('names every blob by the SHA-256 of its bytes, on either side of the threshold and across it (fast-check, 40 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(chunks, fc.integer({ min: 0, max: 200 * 1024 }), async (parts, threshold) => {
        const writer = new BlobWriter(join(dir, `blob-${n++}`), threshold);
        const written = await record(writer, parts);
        const bytes = Buffer.concat(parts);
        expect(written.size).toBe(bytes.length);
        expect(written.hash).toBe(sha256(bytes));
        expect(readFileSync(written.tempPath).equals(bytes)).toBe(true);
      }),
      { numRuns: 40, seed: 16 },
    );
  });

  it('hashes on a thread past its threshold: the thread is started once, and its hash is the one given', async () => {
    const started: string[] = [];
    const given: Array<BlobHash | null> = [];
    const follow = (path: string): FollowingHash => {
      started.push(path);
      const thread = followFile(path);
      return {
        ...thread,
        finish: async (size) => {
          const hash = await thread.finish(size);
          given.push(hash);
          return hash;
        },
      };
    };
    const parts = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const written = await record(new BlobWriter(join(dir, 'big'), 1 << 20, follow), parts);
    expect(started).toEqual([join(dir, 'big')]);
    expect(given).toEqual([sha256(Buffer.concat(parts))]);
    expect(written.hash).toBe(given[0]);
  });

  it('hashes the file itself when the thread fails, or cannot be started', async () => {
    const parts = Array.from({ length: 40 }, (_, i) => Buffer.alloc(50_000, 255 - i));
    const expected = sha256(Buffer.concat(parts));
    const failing = (path: string): FollowingHash => {
      const thread = followFile(path);
      thread.abort();
      return thread;
    };
    expect((await record(new BlobWriter(join(dir, 'failed'), 100_000, failing), parts)).hash).toBe(expected);
    const refused = (): FollowingHash => {
      throw new Error('no thread');
    };
    expect((await record(new BlobWriter(join(dir, 'refused'), 100_000, refused), parts)).hash).toBe(expected);
  });
});
