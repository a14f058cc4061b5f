import type { Writable } from 'node:stream';

// Resolves once `stream` has room again ('drain'), or can take no more
// writes at all ('close', 'error'): what a writer whose write() returned
// false waits for.
export function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('error', done);
    stream.on('close', done);
  });
}
