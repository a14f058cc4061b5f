import type { BlobHash } from '../core/hash.js';
import type { Interrupts } from '../ports/interrupts.js';
import type { Reporter } from '../ports/reporter.js';
import type { OpenBlobs, RemoteSpec, SharedTier } from '../ports/tiers.js';
import type { Manifest } from '../schema/manifest.js';

// The flow of one call: replay a fresh entry (local, then shared); or wait
// for whoever is already producing it (here, or on another machine); or
// produce it, record it, and share it. Generic over how a value is produced
// and replayed: a command (dcache run), a function (the library).

// How the values of a call are produced and replayed.
export interface Recipe<R> {
  // what is produced, for messages ("./fetch.sh")
  readonly label: string;
  // Replays a stored entry, every blob of it already open.
  replay(entry: Manifest, blobs: OpenBlobs): Promise<Replayed<R>>;
  // Produces the value once; its bytes go to the call's store when `record`
  // (false: the store cannot be used, and the work runs uncached). Past
  // `timeLimitMs` (a background refresh's) the work is stopped.
  produce(record: boolean, timeLimitMs: number | null): Promise<Production<R>>;
  // Called once the value is out and before it is shared (a command's
  // stdout is closed there, so that its reader need not wait for the upload).
  beforeShare?(): void;
}

export type Replayed<R> =
  | { kind: 'done'; result: R }
  // Nothing was written: a miss. `drop` the entry (and `badBlob`) if it is damaged.
  | { kind: 'unusable'; warning: string; drop: boolean; badBlob: BlobHash | null }
  // A blob proved bad after some of the value was written: the call fails.
  | { kind: 'broken'; badBlob: BlobHash; detail: string };

export interface Production<R> {
  result: R;
  // how the production failed ("exit 6"), null if it did not (an
  // interruption is not a failure): --stale-if-error may stand in
  failed: string | null;
  // What to record, its blobs in the store; null if it is not to be
  // recorded (the recipe has said why).
  keep(): Promise<EntryContent | null>;
  // Nothing of this production will be recorded.
  discard(): Promise<void>;
  // after keep() gave null: why, for the closing line of -v ("exit 3; ...")
  notRecorded?(): string | null;
  // A production that failed and is not recorded: its output, kept for the
  // callers that waited for it (they are given this outcome, not a run of
  // their own, as Go's singleflight hands its error to every waiter), or
  // null if it cannot be. Called instead of keep().
  keepFailure?(): Promise<EntryContent | null>;
}

// What a recipe records of a production; the engine adds the key, the
// times, the policies and the watched sources.
export type EntryContent = Pick<Manifest, 'exitCode' | 'stdout' | 'stderr' | 'order' | 'outputs'>;

export type Outcome<R> = { ok: true; result: R } | { ok: false; reason: 'broken-replay'; detail: string };

export interface EngineDeps {
  reporter: Reporter;
  interrupts: Interrupts;
  // the shared cache of a call that has a remote
  openShared(spec: RemoteSpec): SharedTier;
  // Starts a refresh of the call's entry in the background (a process of
  // its own that produces and records it, --stale-while-revalidate), and
  // returns its pid; null if it could not start. Absent where the work
  // cannot be redone elsewhere: the stale entry is then not served.
  startRefresh?(): Promise<number | null>;
  // With -v, when there is no entry: entries of the same work recorded with
  // other options, and what differs ("…, with -o data/raw.csv")
  nearEntries?(): string[];
}

