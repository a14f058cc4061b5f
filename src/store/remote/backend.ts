import { pipeline, Transform, type Readable } from 'node:stream';
import { raceDeadline, watchProgress } from '../../core/deadline.js';
import { formatSize } from '../../core/size.js';
import type { BlobHash, CacheKey } from '../../core/hash.js';
import type { Host } from '../../ports/host.js';
import type { LeaseTiming, LockOutcome, WaitHooks } from '../../ports/lease.js';

// A shared cache on another machine: Redis, any HTTP server that answers
// GET, HEAD and PUT, and (each a kind in the registry) more. It holds the
// same manifests and blobs as the local store. Everything it returns is
// untrusted and verified by the caller. A method fails with a RemoteError
// when the remote is down, slow or refuses (the caller then goes on without
// it); anything else it throws is a bug.
export interface RemoteBackend {
  // the URL without credentials, for messages
  readonly label: string;
  readonly readOnly: boolean;
  // the manifest's bytes, or null if the remote has none for this key
  getManifest(key: CacheKey): Promise<Buffer | null>;
  // streams a blob to `write`, chunk by chunk, waiting on each; false if
  // absent. `size` is what the manifest says, for the deadline. A transfer
  // that stalls (see readBody) fails with a RemoteError.
  getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void, size?: number): Promise<boolean>;
  hasBlob(hash: BlobHash): Promise<boolean>;
  // uploads the file at `path`, `size` bytes, as the blob `hash`; `sent`
  // hears the bytes sent so far, for a progress line
  putBlob(hash: BlobHash, size: number, path: string, sent?: (bytes: number) => void): Promise<void>;
  putManifest(key: CacheKey, bytes: Buffer): Promise<void>;
  // single flight across machines, where the backend can offer it
  lock?(key: CacheKey, timing: LeaseTiming, me: Host, hooks: WaitHooks): Promise<LockOutcome>;
  // dcache gc --remote, where the backend can list what it holds
  collectGarbage?(options: RemoteGcOptions): Promise<RemoteGcReport>;
  close(): Promise<void>;
}

export interface RemoteGcOptions {
  // remove entries stale for longer than this; null: only what nothing names
  maxAgeMs: number | null;
  // least recently used entries removed down to these, where the kind can
  // tell use (see RemoteKind.cleans); null: no such bound
  maxSize: number | null;
  maxEntries: number | null;
  // now, as DCACHE_NOW may set it
  now: number;
  // blobs, leases and unreadable entries younger than this are kept: a
  // machine may be between uploading a blob and writing its manifest
  graceMs: number;
}

// What gc --remote removed; each kind says what it can count.
export interface RemoteGcReport {
  entries: number;
  blobs: number;
  bytes: number;
  // leases left behind (a bucket)
  leases?: number;
  // temp files of crashed recordings (a shared directory)
  temps?: number;
  // entries kept (a bucket)
  kept?: number;
  // entries written by a newer dcache, whose blobs this one cannot tell
  foreign?: number;
  // files that could not be removed, and why the first could not
  failed?: number;
  failure?: string | null;
}

// A remote that is down, slow, refusing or answering nonsense: expected,
// and never the reason a job fails.
export class RemoteError extends Error {}

// Runs one operation of the remote `label` with a signal that aborts it at
// the deadline of `budgetMs` (src/deadline.ts); what does not listen to the
// signal (a credential chain asking an instance's metadata service) is
// given up then too. A passed deadline is a RemoteError naming the remote
// and the operation (`what`), whatever the operation was doing.
export async function withRemoteDeadline<T>(label: string, what: string, budgetMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  try {
    return await raceDeadline(work(controller.signal), budgetMs, () => controller.abort());
  } catch (err) {
    if (controller.signal.aborted) throw new RemoteError(`${label}: ${what} did not finish within ${Math.round(budgetMs / 100) / 10} s`);
    throw err;
  }
}

export type { RemoteSpec } from '../../ports/tiers.js';

// What a blob's body must move in each stall window: a link of 13 KB/s
// still moves blobs; a server that drips a byte a second, or stops, is
// given up within one window, whatever size the manifest claims.
export const STALL_BYTES = 64 << 10;
export const DEFAULT_STALL_MS = 5_000;
// The largest entry a remote hands over by default: a claimed size is
// untrusted, and a reader should not spend an hour on one.
export const DEFAULT_MAX_ENTRY_BYTES = 4 * 2 ** 30;

// Reads a body to `write`, chunk by chunk, and gives up (a RemoteError
// naming `what`) once it stalls: less than STALL_BYTES (or what was left)
// in a window of `stallMs`. `cancel` aborts the request under the body.
export async function readBody(
  label: string,
  what: string,
  stallMs: number,
  totalBytes: number,
  body: AsyncIterable<Uint8Array>,
  cancel: () => void,
  write: (chunk: Uint8Array) => Promise<void> | void,
): Promise<void> {
  let stalled: string | null = null;
  const watch = watchProgress(stallMs, STALL_BYTES, totalBytes, (moved, wanted) => {
    const seconds = Math.round(stallMs / 100) / 10;
    stalled = `${moved === 1 ? '1 byte' : `${moved} bytes`} in ${seconds} s, where ${wanted === 1 ? '1 byte' : formatSize(wanted)} must move in ${seconds} s`;
    cancel();
  });
  try {
    for await (const chunk of body) {
      if (stalled !== null) break;
      watch.moved(chunk.length);
      await write(chunk);
    }
  } catch (err) {
    if (stalled === null) throw err;
  } finally {
    watch.stop();
  }
  if (stalled !== null) {
    throw new RemoteError(`${label}: ${what} stalled: ${stalled}`);
  }
}

// The slowest transfer worth waiting for: a blob may take the timeout plus
// one second per MiB (a link of 1 MiB/s still moves blobs, while a server
// that drips or stops is found out).
const MS_PER_BYTE = 1000 / (1 << 20);

export function transferBudgetMs(timeoutMs: number, bytes: number): number {
  return timeoutMs + Math.ceil(bytes * MS_PER_BYTE);
}

// Counts what the streams of an upload read, for putBlob's `sent`: a range
// opened again (a request retried) counts from its start again.
export function countingReads(open: (start: number, end: number) => Readable, sent: ((bytes: number) => void) | undefined): (start: number, end: number) => Readable {
  if (sent === undefined) return open;
  const ranges = new Map<number, number>();
  return (start, end) => {
    ranges.set(start, 0);
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        ranges.set(start, (ranges.get(start) ?? 0) + chunk.length);
        let total = 0;
        for (const n of ranges.values()) total += n;
        sent(total);
        done(null, chunk);
      },
    });
    // errors go on to the reader; a reader that stops closes the file
    pipeline(open(start, end), counter, () => {});
    return counter;
  };
}
