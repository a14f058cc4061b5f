import { write } from 'node:fs';
import { Writable } from 'node:stream';

// How long a write to a non-blocking descriptor that is full (EAGAIN) waits
// before it tries again, at most.
const RETRY_MAX_MS = 20;

// A stream onto one of our own descriptors (1 or 2) whose writes run on
// libuv's thread pool. A reader that stops reading (`| less`) then blocks a
// pool thread, never the event loop, so a lock's heartbeat keeps going. And
// since process.stdout is never created, dcache may close its stdout once
// the command's output is over (see closeStdout).
export class DescriptorStream extends Writable {
  constructor(private readonly fd: number) {
    super({ highWaterMark: 1 << 20, decodeStrings: true });
  }

  // What piled up while a write was in the pool goes out in one write: a
  // command's 64 KiB reads would otherwise cost a trip to the pool each.
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writeAll(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll(chunk, callback);
  }

  private writeAll(chunk: Buffer, callback: (error?: Error | null) => void): void {
    let offset = 0;
    let wait = 1;
    const next = () => {
      if (offset >= chunk.length) return callback();
      write(this.fd, chunk, offset, chunk.length - offset, null, (err, n) => {
        if (err) {
          // A descriptor shared with a parent may be non-blocking: wait for room.
          if (err.code !== 'EAGAIN') return callback(err);
          setTimeout(next, wait);
          wait = Math.min(RETRY_MAX_MS, wait * 2);
          return;
        }
        wait = 1;
        offset += n;
        next();
      });
    };
    next();
  }

  // Resolves once every byte written so far is in the descriptor (writes
  // run in order: an empty one completes after all before it).
  flushed(): Promise<void> {
    if (this.destroyed || this.writableEnded) return Promise.resolve();
    return new Promise((resolve) => this.write(Buffer.alloc(0), () => resolve()));
  }
}
