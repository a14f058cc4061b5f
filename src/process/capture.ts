import type { BlobRef } from '../schema/manifest.js';
import type { BlobWriter } from '../store/local/blob-writer.js';
import type { LocalStore } from '../store/local/local-store.js';
import { describeError } from '../store/local/local-store.js';

export type StreamFd = 1 | 2;

export interface CapturedStreams {
  stdout: BlobRef | null;
  stderr: BlobRef | null;
  order: BlobRef | null;
}

// Tees a run's stdout and stderr into temp blobs, and notes how they
// interleaved: consecutive chunks of one stream form a run, written as a
// line `<fd> <bytes>` to an order blob that exists only once both streams
// have spoken. A write error (a full disk) ends the capture but never the
// pass-through of the command's output.
export class Capture {
  private readonly streams: Record<StreamFd, BlobWriter>;
  private order: BlobWriter | null = null;
  private runFd: StreamFd | null = null;
  private runBytes = 0;
  private readonly seen = new Set<StreamFd>();
  failure: string | null = null;

  constructor(private readonly store: LocalStore) {
    this.streams = { 1: store.createBlobWriter(), 2: store.createBlobWriter() };
  }

  // false: wait for `drained()` before writing more
  write(fd: StreamFd, chunk: Uint8Array): boolean {
    if (this.failure !== null || chunk.length === 0) return true;
    this.noteRun(fd, chunk.length);
    const writer = this.streams[fd];
    const flowing = writer.write(chunk);
    if (writer.error) this.fail(writer.error);
    return flowing;
  }

  drained(): Promise<void> {
    return Promise.all([this.streams[1].drained(), this.streams[2].drained(), this.order?.drained()]).then(() => {
      for (const writer of this.writers()) if (writer.error) this.fail(writer.error);
    });
  }

  // Finishes every blob and moves it into the store. Throws if any write
  // failed; the caller then discards.
  async finish(): Promise<CapturedStreams> {
    this.flushRun();
    const [stdout, stderr, order] = await Promise.all(this.writers().map((w) => w.finish()));
    if (this.failure !== null) throw new Error(this.failure);
    const publish = (blob: typeof stdout) => (blob && blob.size > 0 ? this.store.publishBlob(blob) : null);
    const refs = { stdout: publish(stdout), stderr: publish(stderr), order: order ? publish(order) : null };
    for (const blob of [stdout, stderr]) if (blob && blob.size === 0) this.store.removeTemp(blob.tempPath);
    return refs;
  }

  // Closes and removes every temp file, spares of published blobs included.
  async discard(): Promise<void> {
    await Promise.all(this.writers().map((w) => w.abort()));
    for (const writer of this.writers()) this.store.removeTemp(writer.tempPath);
    this.store.discardSpares();
  }

  private writers(): BlobWriter[] {
    return this.order ? [this.streams[1], this.streams[2], this.order] : [this.streams[1], this.streams[2]];
  }

  private fail(err: Error): void {
    this.failure ??= describeError(err);
  }

  private noteRun(fd: StreamFd, bytes: number): void {
    if (fd !== this.runFd) {
      this.seen.add(fd);
      // The first switch creates the order blob; the run before it is still
      // held in runFd/runBytes and is written by flushRun just below.
      if (this.seen.size === 2 && this.order === null) this.order = this.store.createBlobWriter();
      this.flushRun();
      this.runFd = fd;
    }
    this.runBytes += bytes;
  }

  private flushRun(): void {
    if (this.order === null || this.runFd === null || this.runBytes === 0) return;
    this.order.write(Buffer.from(`${this.runFd} ${this.runBytes}\n`));
    this.runBytes = 0;
  }
}
