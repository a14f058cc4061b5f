import { write, writev } from 'node:fs';
import { Writable } from 'node:stream';

// How long a write to a non-blocking descriptor that is full (EAGAIN) waits
// before it tries again, at most.
const RETRY_MAX_MS = 20;
// buffers per writev, under every system's IOV_MAX (1024 on Linux)
const MAX_IOV = 512;

// What is left of `chunks` once their first `written` bytes are out.
export function afterWritten(chunks: Buffer[], written: number): Buffer[] {
  let i = 0;
  let n = written;
  while (i < chunks.length && n >= chunks[i]!.length) n -= chunks[i++]!.length;
  if (i === chunks.length) return [];
  return n === 0 ? chunks.slice(i) : [chunks[i]!.subarray(n), ...chunks.slice(i + 1)];
}

// A stream onto one of our own descriptors (1 or 2) whose writes run on
// libuv's thread pool. A reader that stops reading (`| less`) then blocks a
// pool thread, never the event loop, so a lock's heartbeat keeps going. And
// since process.stdout is never created, dcache may close its stdout once
// the command's output is over (see closeStdout).
export class DescriptorStream extends Writable {
  constructor(private readonly fd: number) {
    super({ highWaterMark: 1 << 20, decodeStrings: true });
  }

  // What piled up while a write was in the pool goes out in one writev: a
  // command's 64 KiB reads would otherwise cost a trip to the pool each,
  // and joining them first a copy of every byte (28 ms of 256 MiB).
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk), callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll([chunk], callback);
  }

  // Writes every byte of `chunks`, in order, however many writes that takes
  // (a pipe takes part of a large write).
  private writeAll(chunks: Buffer[], callback: (error?: Error | null) => void): void {
    let left = chunks.filter((c) => c.length > 0);
    let wait = 1;
    const next = () => {
      if (left.length === 0) return callback();
      const done = (err: NodeJS.ErrnoException | null, n: number) => {
        if (err) {
          // A descriptor shared with a parent may be non-blocking: wait for room.
          if (err.code !== 'EAGAIN') return callback(err);
          setTimeout(next, wait);
          wait = Math.min(RETRY_MAX_MS, wait * 2);
          return;
        }
        wait = 1;
        left = afterWritten(left, n);
        next();
      };
      if (left.length === 1) write(this.fd, left[0]!, 0, left[0]!.length, null, done);
      else writev(this.fd, left.slice(0, MAX_IOV), null, done);
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
