import { openSync, closeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { BlobHash } from '../../core/hash.js';
import { hashOpenFileAsync } from './file-copy.js';

// The SHA-256 of a large blob, computed on a thread of its own that reads
// the blob's temp file behind its writer, so that the event loop (which
// reads the command's pipes and passes its output on) does not hash. The
// writer says when the file grew and, once it is whole, how long it is; the
// file is appended to in order, so every byte below its size is final.
// Hashing a 256 MiB recording took the event loop some 200 of its 800 ms.

export interface FollowingHash {
  // The file grew (a write to it completed).
  grew(): void;
  // The file is whole at `size` bytes: its SHA-256, or null if the thread
  // failed (the caller then hashes the file itself).
  finish(size: number): Promise<BlobHash | null>;
  // The hash is not wanted: the thread stops.
  abort(): void;
}

// The thread: reads from 0, hashes what it read, and waits on the shared
// counter when it has caught up with the writer. Plain CommonJS, evaluated
// as it is: it needs no file of its own beside the bundle.
const FOLLOWER = `
const { workerData, parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const signals = new Int32Array(workerData.shared, 0, 2);
const end = new Float64Array(workerData.shared, 8, 1);
const fd = openSync(workerData.path, 'r');
try {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  let at = 0;
  for (;;) {
    const seen = Atomics.load(signals, 0);
    const n = readSync(fd, buffer, 0, buffer.length, at);
    if (n > 0) {
      hash.update(buffer.subarray(0, n));
      at += n;
      continue;
    }
    if (Atomics.load(signals, 1) === 1) {
      if (at !== end[0]) throw new Error('the file has ' + at + ' bytes, not ' + end[0]);
      break;
    }
    Atomics.wait(signals, 0, seen);
  }
  parentPort.postMessage(hash.digest('hex'));
} finally {
  closeSync(fd);
}
`;

// SEQUENCE is bumped at every growth, ENDED set once the size is final.
const SEQUENCE = 0;
const ENDED = 1;

export function followFile(path: string): FollowingHash {
  const shared = new SharedArrayBuffer(16);
  const signals = new Int32Array(shared, 0, 2);
  const end = new Float64Array(shared, 8, 1);
  // stdout and stderr of its own: the thread must not create (or write to)
  // process.stdout, whose descriptor carries the command's output
  const worker = new Worker(FOLLOWER, { eval: true, workerData: { path, shared }, stdout: true, stderr: true });
  // A writer that is dropped without finish() or abort() must not keep the
  // process alive (the thread waits for more): held only while finishing.
  worker.unref();
  const result = new Promise<BlobHash | null>((resolve) => {
    worker.once('message', (hash: unknown) => resolve(typeof hash === 'string' && /^[0-9a-f]{64}$/.test(hash) ? (hash as BlobHash) : null));
    worker.once('error', () => resolve(null));
    worker.once('exit', () => resolve(null));
  });
  const grew = () => {
    Atomics.add(signals, SEQUENCE, 1);
    Atomics.notify(signals, SEQUENCE);
  };
  return {
    grew,
    finish(size) {
      end[0] = size;
      Atomics.store(signals, ENDED, 1);
      worker.ref();
      grew();
      return result;
    },
    abort() {
      void worker.terminate();
    },
  };
}

// The SHA-256 of a whole file, read through the thread pool: what a writer
// does when its hashing thread failed.
export async function hashFile(path: string): Promise<BlobHash> {
  const fd = openSync(path, 'r');
  try {
    return (await hashOpenFileAsync(fd)).hash;
  } finally {
    closeSync(fd);
  }
}
