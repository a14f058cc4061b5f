import type { BlobHash, CacheKey } from '../core/hash.js';
import type { Manifest } from '../schema/manifest.js';
import type { KeyMaterial } from '../schema/key.js';
import type { Host } from './host.js';
import type { LeaseTiming, LockNote, LockOutcome, WaitHooks } from './lease.js';

// The two tiers the engine reads and writes, as it sees them: the local
// store (one cache directory), then the shared cache (a remote). The real
// ones are LocalStore and RemoteSession; tests give fakes.

// `stamp` says which version of the manifest file was read (see
// EntryStore.entryStamp).
export type ReadEntryResult =
  | { status: 'found'; manifest: Manifest; stamp: string }
  | { status: 'absent' }
  // the entry exists but cannot be used and should be dropped
  | { status: 'bad'; detail: string }
  // written by a newer version (a format or a kind this one does not know):
  // a miss, and left alone
  | { status: 'foreign'; detail: string }
  // the file system refused (permissions, I/O): leave the entry alone
  | { status: 'unreadable'; detail: string }
  // another user owns it, or could have written it: not read, left alone
  | { status: 'distrusted'; detail: string };

export interface ActivityEvent {
  // when (epoch ms, the call's clock)
  t: number;
  k: string;
  // a background refresh that failed (--stale-while-revalidate) is
  // 'refresh-failed', with how it failed in `failed`
  e: 'hit' | 'miss' | 'refresh-failed';
  failed?: string;
  // on a hit: the recorded run's duration minus the replay's
  saved?: number;
  // a hit served from the remote cache
  remote?: boolean;
  // on a hit: when the entry it replayed was recorded, which names that
  // recording (a hit of an earlier recording of the key is not the current one's)
  r?: number;
}

// Every blob of an entry, open (a blob removed meanwhile stays readable).
export interface OpenBlobs {
  fd(hash: BlobHash): number;
  // whether the blob was checked against its hash as its file is now (a
  // local blob unchanged since a hit checked it): it need not be hashed.
  // Asked after its bytes are read, so that a change meanwhile is seen.
  checked(hash: BlobHash): boolean;
  // notes that the blob's bytes, as opened, matched its hash
  noteChecked(hash: BlobHash): void;
  // where the blob is stored (it may have moved since it was opened)
  path(hash: BlobHash): string;
  close(): void;
}

export interface EntryStore {
  // the cache directory, for messages
  readonly root: string;
  // why the store must not be used, or null
  whyNotTrusted(): string | null;
  // makes it ready to record; throws if it cannot be used
  prepare(): void;
  readEntry(key: CacheKey): ReadEntryResult;
  // which version of the key's manifest file is there now (null: none), as
  // readEntry's stamp says it: whether an entry changed is a stat, not a read
  entryStamp(key: CacheKey): string | null;
  // the first blob that is missing or of the wrong size, or null
  checkBlobs(manifest: Manifest): { hash: BlobHash; detail: string } | null;
  // a blob that is missing, or that another user could have written, is not opened
  openBlobs(manifest: Manifest): OpenBlobs | { missing: BlobHash; detail: string };
  // removes an entry found bad (only if it is still `manifest`), and a bad blob
  dropEntry(manifest: Manifest | null, key: CacheKey, badBlob: BlobHash | null): void;
  // makes an entry visible at once, whole, after its blobs
  publishManifest(manifest: Manifest): void;
  // keeps a failed run's outcome for the callers that waited for it (not an entry)
  publishOutcome(manifest: Manifest, runId: string): void;
  // the kept outcome of one of these runs, if there is one
  readOutcome(key: CacheKey, runIds: Iterable<string>): Manifest | null;
  // a recording given up after some of its blobs were stored
  discardSpares(): void;
  recordEvent(event: ActivityEvent): void;
  // one background refresh per stale storm: whether this call may start it;
  // and the claim given back by the refresh as it ends
  claimRefresh(key: CacheKey): boolean;
  dropRefreshClaim(key: CacheKey): void;
  // single flight on this machine; `note` tells the waiters what the holder is
  lockKey(key: CacheKey, timing: LeaseTiming, host: Host, hooks: WaitHooks, note?: LockNote): Promise<LockOutcome>;
  // the automatic clean-up after a miss, at most now and then
  collectNowAndThen(maxSize: number, now: number): Promise<void>;
}

export interface SharedTier {
  readonly label: string;
  readonly readOnly: boolean;
  // the entry for a key, if it is one this call may trust; else null
  fetchEntry(key: CacheKey, material: KeyMaterial): Promise<Manifest | null>;
  // copies an entry's blobs into the local store, verified; false if any is bad
  download(manifest: Manifest): Promise<boolean>;
  // uploads a new entry: its blobs, then its manifest
  share(manifest: Manifest): Promise<void>;
  lock(key: CacheKey, timing: LeaseTiming, host: Host, hooks: WaitHooks): Promise<LockOutcome | null>;
  close(): Promise<void>;
}

// A remote (--remote, DCACHE_REMOTE) as a call names it: which kind, where,
// and its timers and limits.
export interface RemoteSpec {
  // the kind in the registry (redis, http, ...)
  kind: string;
  // the URL to connect to, credentials included, `mode` removed
  url: URL;
  label: string;
  readOnly: boolean;
  timeoutMs: number;
  // a blob's body must move STALL_BYTES every this long (DCACHE_REMOTE_STALL_WINDOW)
  stallMs: number;
  // entries whose blobs total more are neither downloaded nor shared
  // (DCACHE_MAX_ENTRY_SIZE, maxEntrySize)
  maxEntryBytes: number;
}

// The keys that sign and verify entries on a remote (DCACHE_SIGNING_KEY).
export interface SigningKeys {
  // the first signs
  keys: Array<{ id: string; secret: Buffer }>;
}
