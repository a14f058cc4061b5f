import { write as fsWrite, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

// The reader of our stdout or stderr went away.
export class SinkClosed extends Error {}

// Writes to one of our own file descriptors. A replay writes straight to the
// descriptor: creating process.stdout costs a hit about 2 ms (it loads the
// net and tty machinery), and a blocking write is what a replay wants anyway.
// A descriptor that is non-blocking and full (EAGAIN, possible when a parent
// shares one) is handed to the process stream, which waits for it.
export class FdSink {
  private useStream = false;

  constructor(
    private readonly fd: 1 | 2,
    private readonly stream: () => Writable,
  ) {}

  // Writes on libuv's thread pool, so that the main thread can hash the next
  // chunk of a replay while this one goes out. Resolves, as `write` does,
  // once the whole chunk is handed to the OS.
  writeInPool(chunk: Uint8Array): Promise<void> {
    if (this.useStream) return this.write(chunk);
    return new Promise((resolve, reject) => {
      const step = (offset: number) => {
        if (offset >= chunk.length) return resolve();
        fsWrite(this.fd, chunk, offset, chunk.length - offset, null, (err, n) => {
          if (!err) return step(offset + n);
          if (err.code !== 'EAGAIN') return reject(new SinkClosed(err.code));
          this.useStream = true;
          this.write(chunk.subarray(offset)).then(resolve, reject);
        });
      };
      step(0);
    });
  }

  // Resolves once the whole chunk is handed to the OS, so the caller may
  // reuse its buffer.
  async write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    if (!this.useStream) {
      try {
        while (offset < chunk.length) offset += writeSync(this.fd, chunk, offset, chunk.length - offset);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN') throw new SinkClosed(code);
        this.useStream = true;
      }
    }
    const stream = this.stream();
    if (stream.destroyed || stream.writableEnded) throw new SinkClosed();
    const rest = chunk.subarray(offset);
    await new Promise<void>((resolve, reject) => {
      stream.write(rest, (err) => (err ? reject(new SinkClosed(String(err))) : resolve()));
    });
  }
}
