import { createWriteStream, fdatasync, type WriteStream } from 'node:fs';
import type { BlobHash, StreamHash } from '../../core/hash.js';
import { createStreamHash } from '../../core/hash.js';
import { drained } from '../../core/drained.js';
import { followFile, hashFile, type FollowingHash } from './file-hasher.js';

// Buffered bytes above which `write` asks the producer to wait for 'drain'.
const HIGH_WATER_MARK = 1 << 20;
// how often a large blob is synced while it is written (see syncSoFar)
const SYNC_EVERY = 32 << 20;
// Past this size a blob is hashed on a thread of its own (file-hasher.ts),
// from its first byte: starting the thread costs some 10 to 30 ms, which a
// smaller blob does not win back.
const HASH_APART_AFTER = 16 << 20;

export interface WrittenBlob {
  tempPath: string;
  hash: BlobHash;
  size: number;
}

// Streams one blob into a private temp file, hashing it on the way (past
// HASH_APART_AFTER bytes, on a thread that reads the file behind the
// writes); nothing of it is held in memory beyond the write buffer. The file
// is fsynced on close so that a manifest never outlives the bytes it names.
export class BlobWriter {
  private readonly stream: WriteStream;
  private readonly hash: StreamHash;
  // the thread hashing the file, once past hashApartAfter
  private apart: FollowingHash | null = null;
  private size = 0;
  // the size at the last early sync, and the one under way
  private syncedAt = 0;
  private syncing: Promise<void> | null = null;
  // the first write error (ENOSPC, EDQUOT, EIO...): the blob is then worthless
  error: Error | null = null;

  constructor(
    readonly tempPath: string,
    private readonly hashApartAfter = HASH_APART_AFTER,
    private readonly follow: (path: string) => FollowingHash = followFile,
  ) {
    this.hash = createStreamHash();
    this.stream = createWriteStream(tempPath, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: HIGH_WATER_MARK });
    this.stream.on('error', (err) => {
      this.error ??= err;
    });
  }

  // false: wait for `drained()` before writing more
  write(chunk: Uint8Array): boolean {
    if (this.error) return true;
    const apart = this.apart;
    if (apart === null) this.hash.update(chunk);
    this.size += chunk.length;
    const flowing = apart === null ? this.stream.write(chunk) : this.stream.write(chunk, () => apart.grew());
    // (once the file exists: the thread opens it)
    if (apart === null && this.size >= this.hashApartAfter && !this.stream.pending) this.hashApart();
    if (this.size - this.syncedAt >= SYNC_EVERY) this.syncSoFar();
    return flowing;
  }

  // Hands the hashing to a thread, which reads the file from its start.
  // Where no thread can be started, this one goes on hashing.
  private hashApart(): void {
    try {
      this.apart = this.follow(this.tempPath);
    } catch {
      this.apart = null;
    }
  }

  // Starts the disk on what is written so far, on the thread pool, while
  // the command goes on: the fsync at the end then has only the tail to
  // wait for, not the whole output. (Its outcome does not matter: that
  // last fsync is the one that must succeed.)
  private syncSoFar(): void {
    this.syncedAt = this.size;
    // (fs.WriteStream has its descriptor once open; @types/node leaves it out)
    const { fd } = this.stream as unknown as { fd: number | null };
    if (typeof fd !== 'number' || this.syncing !== null) return;
    this.syncing = new Promise((resolve) =>
      fdatasync(fd, () => {
        this.syncing = null;
        resolve();
      }),
    );
  }

  drained(): Promise<void> {
    return this.error || !this.stream.writableNeedDrain ? Promise.resolve() : drained(this.stream);
  }

  // Flushes, fsyncs and closes; rejects with the first write error.
  async finish(): Promise<WrittenBlob> {
    // the descriptor stays open until an early sync is done with it
    await this.syncing;
    if (!this.stream.closed) {
      await new Promise<void>((resolve) => {
        this.stream.once('close', resolve);
        this.stream.end();
      });
    }
    if (this.error) throw this.error;
    if (this.apart === null) return { tempPath: this.tempPath, hash: this.hash.digest(), size: this.size };
    // the file is whole: the thread's hash, or where it failed, our own
    const hash = (await this.apart.finish(this.size)) ?? (await hashFile(this.tempPath));
    return { tempPath: this.tempPath, hash, size: this.size };
  }

  // Stops writing and closes; the caller removes the temp file.
  async abort(): Promise<void> {
    this.apart?.abort();
    await this.syncing;
    if (this.stream.closed) return;
    await new Promise<void>((resolve) => {
      this.stream.once('close', resolve);
      this.stream.destroy();
    });
  }
}
