import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { CloudError } from '../../cloud/cloud-error.js';
import { openObjectStore, parseObjectUrl, type ObjectAddress } from '../../cloud/object-store.js';
import type { ListedObject, ObjectStore, UploadBody } from '../../cloud/types.js';
import { blobsOf, validateManifest, type Manifest } from '../../schema/manifest.js';
import { storedVerdict } from '../local/gc.js';
import { openManifest } from './signing.js';
import { MANIFEST_LIMITS, parseDocument, SMALL_DOCUMENT_LIMITS } from '../../core/json-document.js';
import type { Host } from '../../ports/host.js';
import { HeldLeases, Wait, type HeldLock, type LeaseTiming, type LockOutcome, type WaitHooks } from '../../ports/lease.js';
import type { BlobHash, CacheKey } from '../../core/hash.js';
import { countingReads, readBody, RemoteError, transferBudgetMs, withRemoteDeadline, type RemoteGcOptions, type RemoteGcReport, type RemoteSpec, type RemoteBackend } from './backend.js';

// A shared cache in a bucket: s3://bucket/prefix, gs://bucket/prefix,
// az://container/prefix, reached with the clients and credentials of the
// cloud sources. Layout under the prefix:
//
//   blobs/<sha256>    a blob's bytes
//   entries/<key>     a manifest, written after the blobs it names
//   locks/<key>       single flight: a lease, JSON naming its holder
//
// Blobs move streamed (a large one in parts: S3 multipart, Azure blocks);
// the caller verifies every blob it downloads. Every operation has a total
// deadline: the timeout, plus for a blob the time it takes at 1 MiB/s.
//
// Single flight without a lock server: the lease object is created with a
// conditional write that fails if it exists (S3 and Azure If-None-Match: *,
// GCS ifGenerationMatch=0), so only one machine creates it. Its holder
// rewrites it every heartbeat, each time on the condition that it is still
// the version the holder wrote last (If-Match: <ETag>, ifGenerationMatch:
// <generation>). A waiter that sees the same version for a whole lease (by
// its own clock: no two machines' clocks are compared), or one the store
// says was written longer ago than a lease, takes it over with a write on
// that version's condition: of several waiters, one wins, and a holder that
// was only frozen finds its next renewal refused and knows it lost the lock.
// Released by a delete on the same condition.

// Manifests are small; anything bigger is refused unread.
const MAX_MANIFEST_BYTES = 64 << 20;
// a lease is a few hundred bytes
const MAX_LEASE_BYTES = 64 << 10;
// how often, at least, a waiter reads the lease: each read is a request
export const LEASE_POLL_MS = 500;
const LEASE_MARK = 'dcache-lease';

// How long a waiter sleeps between two looks at a lease, having waited
// `waitedMs`: at most a second through the first minute of a wait (a
// waiter replays within a second of the holder's publishing, where most
// waits end), then less often the longer the wait (a tenth of it), up to a
// quarter of a lease, so that a takeover stays within a quarter lease of
// due; never more often than LEASE_POLL_MS.
export const QUICK_LOOKS_MS = 60_000;
const QUICK_POLL_MS = 1_000;

export function leasePollMs(timing: LeaseTiming, waitedMs: number): number {
  const backedOff = Math.min(waitedMs / 10, timing.leaseMs / 4);
  return Math.max(timing.pollMs, LEASE_POLL_MS, waitedMs < QUICK_LOOKS_MS ? Math.min(backedOff, QUICK_POLL_MS) : backedOff);
}

interface Lease {
  [LEASE_MARK]: 1;
  host: string;
  pid: number;
  id: string;
  // renewals so far: every write of the lease differs (S3's ETag is an MD5)
  beat: number;
}

export async function openObjectStoreRemote(spec: RemoteSpec, env: NodeJS.ProcessEnv, host: Host): Promise<RemoteBackend> {
  const address = parseObjectUrl(spec.url.toString());
  if (address === null) throw new RemoteError(`${spec.label}: not an s3://, gs:// or az:// URL`);
  let store: ObjectStore;
  try {
    store = await openObjectStore(address.cloud, env, spec.timeoutMs, () => host.wallNow());
  } catch (err) {
    if (err instanceof CloudError) throw new RemoteError(`${spec.label}: ${err.message}`);
    throw err;
  }
  return new ObjectStoreRemote(spec, address, store);
}

export class ObjectStoreRemote implements RemoteBackend {
  readonly label: string;
  readonly readOnly: boolean;
  private readonly bucket: string;
  // '' or ending in '/'
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly stallMs: number;
  // leases not yet released, whose renewals close() stops
  private readonly leases = new HeldLeases();

  constructor(
    spec: RemoteSpec,
    address: ObjectAddress,
    private readonly store: ObjectStore,
  ) {
    this.label = spec.label;
    this.readOnly = spec.readOnly;
    this.timeoutMs = spec.timeoutMs;
    this.stallMs = spec.stallMs;
    this.bucket = address.bucket;
    this.prefix = address.key === '' || address.key.endsWith('/') ? address.key : `${address.key}/`;
  }

  async getManifest(key: CacheKey): Promise<Buffer | null> {
    return this.readSmall(`entries/${key}`, MAX_MANIFEST_BYTES, this.timeoutMs);
  }

  // `size`, when known, sets the deadline; without it a blob gets the time
  // of the largest manifest.
  getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void, size?: number): Promise<boolean> {
    const name = `blobs/${hash}`;
    return this.withDeadline(`GET ${name}`, transferBudgetMs(this.timeoutMs, size ?? MAX_MANIFEST_BYTES), async (signal) => {
      const read = await this.store.read(this.bucket, this.prefix + name, signal);
      if (read === null) return false;
      try {
        await readBody(this.label, `GET ${name}`, this.stallMs, size ?? MAX_MANIFEST_BYTES, read.body, () => read.cancel(), write);
      } finally {
        read.cancel();
      }
      return true;
    });
  }

  hasBlob(hash: BlobHash): Promise<boolean> {
    const name = `blobs/${hash}`;
    return this.withDeadline(`HEAD ${name}`, this.timeoutMs, (signal) => this.store.exists(this.bucket, this.prefix + name, signal));
  }

  async putBlob(hash: BlobHash, size: number, path: string, sent?: (bytes: number) => void): Promise<void> {
    this.assertWritable();
    const name = `blobs/${hash}`;
    const open = countingReads((start, end) => createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 }), sent);
    const body: UploadBody = size === 0 ? Buffer.alloc(0) : { size, open };
    await this.withDeadline(`PUT ${name}`, transferBudgetMs(this.timeoutMs, size), (signal) => this.store.write(this.bucket, this.prefix + name, body, signal));
  }

  async putManifest(key: CacheKey, bytes: Buffer): Promise<void> {
    this.assertWritable();
    const name = `entries/${key}`;
    await this.withDeadline(`PUT ${name}`, this.timeoutMs, (signal) => this.store.write(this.bucket, this.prefix + name, bytes, signal));
  }

  // Takes the key's lease (see the top of this file). Read-only, it only
  // waits while another machine holds it, and never takes it: that
  // machine's result can be downloaded, while a lease held here would make
  // others wait for a result that will never be uploaded.
  async lock(key: CacheKey, timing: LeaseTiming, me: Host, hooks: WaitHooks): Promise<LockOutcome> {
    const name = `locks/${key}`;
    const mine: Lease = { [LEASE_MARK]: 1, host: me.hostname, pid: me.pid, id: randomUUID(), beat: 0 };
    const started = me.wallNow();
    const wait = new Wait(started, timing, hooks);
    // the version of the lease last seen, and since when (our clock)
    let seen = null as { match: string; since: number } | null;
    // whether the lease may be absent: at first, and after a read found none
    let mayCreate = true;
    for (;;) {
      if (!this.readOnly && mayCreate) {
        const created = await this.writeLease(name, mine, { absent: true }).catch(conflictIsNull);
        if (created !== null) return { kind: 'held', lock: this.holdLease(name, mine, created, wait.waited, timing, hooks, me) };
      }
      const current = await this.readLease(name);
      mayCreate = current === null;
      if (current === null) {
        // The holder let go: look for its entry before taking the lease, or
        // the waiters would take it one after the other just to find it.
        if (seen !== null && (await hooks.giveUp(true))) return { kind: 'gave-up' };
        if (this.readOnly) return { kind: 'held', lock: unlockedLock(wait.waited) };
        seen = null;
        continue;
      }
      const holder = describeLease(current.text);
      const now = me.wallNow();
      if (seen?.match !== current.match) seen = { match: current.match, since: now };
      const unrenewedMs = Math.max(now - seen.since, current.ageMs ?? 0);
      // A lease no longer renewed: its holder is done but could not delete
      // it (a refused or late DELETE, killed right after its upload), or is
      // dead or stopped. Its entry may be there: look (one more request a
      // look) rather than wait the lease out, and before taking it over
      // (that last look is not put off however recent the one before).
      if (unrenewedMs >= 2 * timing.heartbeatMs && (await hooks.giveUp(unrenewedMs >= timing.leaseMs))) return { kind: 'gave-up' };
      if (unrenewedMs >= timing.leaseMs) {
        const why = `its lease was not renewed for ${Math.round(unrenewedMs / 1000)} s`;
        if (this.readOnly) {
          hooks.onTakeover(holder, why);
          return { kind: 'held', lock: unlockedLock(wait.waited) };
        }
        const taken = await this.writeLease(name, mine, { match: current.match }).catch(conflictIsNull);
        if (taken !== null) {
          hooks.onTakeover(holder, why);
          return { kind: 'held', lock: this.holdLease(name, mine, taken, wait.waited, timing, hooks, me) };
        }
        // Another waiter took it first: wait for that one, a poll from now
        // (a store that went on refusing while it served the same stale
        // lease would otherwise be asked again at once, without end).
        seen = null;
        const ended = await wait.next(holder, now, leasePollMs(timing, wait.waitedAt(now)), false);
        if (ended !== null) return ended;
        continue;
      }
      // Each look is one request: the lease; the entry only once the lease
      // is gone or no longer renewed.
      const ended = await wait.next(holder, now, leasePollMs(timing, wait.waitedAt(now)), false);
      if (ended !== null) return ended;
    }
  }

  // A lease just taken: rewritten every heartbeat on the condition that it
  // is still the version written last; a refusal means another machine took
  // it over (this one was stopped, or cut off, for longer than a lease).
  private holdLease(name: string, lease: Lease, match: string, waited: boolean, timing: LeaseTiming, hooks: WaitHooks, me: Host): HeldLock {
    // the version last written; a renewal answered after a release still
    // moves it on, so that the release deletes the version that is there
    let current = match;
    return this.leases.keep(
      {
        heartbeatMs: timing.heartbeatMs,
        elapsedMs: () => me.elapsedMs(),
        renew: async () => {
          const next = await this.writeLease(name, { ...lease, beat: ++lease.beat }, { match: current });
          if (next !== null) {
            current = next;
            return null;
          }
          // Refused: another machine wrote it, or our last write went
          // through after its deadline passed (so `current` is a version behind).
          const now = await this.readLease(name).catch(() => null);
          if (now !== null && leaseId(now.text) === lease.id) {
            current = now.match;
            return null;
          }
          return 'the lease was taken over by another machine (was this process stopped?)';
        },
        giveBack: async () => {
          await this.withDeadline(`DELETE ${name}`, this.timeoutMs, (signal) => this.store.remove(this.bucket, this.prefix + name, signal, current));
        },
        onLost: (why) => hooks.onLost(why),
      },
      waited,
    );
  }

  // dcache gc --remote: removes the entries stale for longer than maxAgeMs
  // (each on the condition that it is still the version read, so an entry
  // rewritten meanwhile stays), then the blobs no entry names and the
  // leases left behind, once older than the grace period. An entry written
  // by a newer dcache names blobs this one cannot tell: with any, no blob is
  // removed.
  async collectGarbage(options: RemoteGcOptions): Promise<RemoteGcReport> {
    this.assertWritable();
    const report = { entries: 0, blobs: 0, leases: 0, bytes: 0, kept: 0, foreign: 0 } satisfies RemoteGcReport;
    const referenced = new Set<string>();
    const old = (o: ListedObject) => !Number.isNaN(o.modifiedMs) && options.now - o.modifiedMs > options.graceMs;
    const remove = async (o: ListedObject): Promise<boolean> => {
      const removed = await this.withDeadline(`DELETE ${o.key}`, this.timeoutMs, (signal) => this.store.remove(this.bucket, o.key, signal, o.match));
      if (removed) report.bytes += Math.max(0, o.size);
      return removed;
    };
    const entries = await this.listUnder('entries/');
    await eachAtOnce(entries, 8, async (o) => {
      const bytes = await this.readSmall(o.key.slice(this.prefix.length), MAX_MANIFEST_BYTES, this.timeoutMs);
      if (bytes === null) return;
      const entry = readEntry(o.key.slice(this.prefix.length + 'entries/'.length), bytes);
      if (entry === 'foreign') {
        report.foreign++;
        report.kept++;
        return;
      }
      if (entry === null) {
        if (old(o) && (await remove(o))) report.entries++;
        else report.kept++;
        return;
      }
      if (options.maxAgeMs !== null) {
        const { expiresAt } = await storedVerdict({ key: entry.key, manifest: entry, bytes: 0 }, options.now);
        if (expiresAt !== null && options.now - expiresAt > options.maxAgeMs && (await remove(o))) {
          report.entries++;
          return;
        }
      }
      report.kept++;
      for (const blob of blobsOf(entry)) referenced.add(blob.hash);
    });
    if (report.foreign === 0) {
      // An entry written since the first listing (a machine recording again)
      // may name an old blob it found stored and did not upload again: the
      // entries are listed once more, and what is new is read too.
      const seen = new Map(entries.map((o) => [o.key, o.match]));
      const since = (await this.listUnder('entries/')).filter((o) => seen.get(o.key) !== o.match);
      await eachAtOnce(since, 8, async (o) => {
        const bytes = await this.readSmall(o.key.slice(this.prefix.length), MAX_MANIFEST_BYTES, this.timeoutMs);
        const entry = bytes === null ? null : readEntry(o.key.slice(this.prefix.length + 'entries/'.length), bytes);
        if (entry === 'foreign') report.foreign++;
        else if (entry !== null) for (const blob of blobsOf(entry)) referenced.add(blob.hash);
      });
    }
    if (report.foreign === 0) {
      const blobs = await this.listUnder('blobs/');
      await eachAtOnce(blobs, 8, async (o) => {
        if (!referenced.has(o.key.slice(this.prefix.length + 'blobs/'.length)) && old(o) && (await remove(o))) report.blobs++;
      });
    }
    const leases = await this.listUnder('locks/');
    await eachAtOnce(leases, 8, async (o) => {
      if (old(o) && (await remove(o))) report.leases++;
    });
    return report;
  }

  // A listing for gc, however many pages: each page's request has the
  // timeout (the client's own, without a signal), not the whole listing.
  private async listUnder(name: string): Promise<ListedObject[]> {
    try {
      return await this.store.list(this.bucket, this.prefix + name);
    } catch (err) {
      if (err instanceof CloudError) throw new RemoteError(`${this.label}: LIST ${name}: ${err.message}`);
      throw err;
    }
  }

  // Stops renewing the leases not yet released: they lapse after a lease.
  async close(): Promise<void> {
    this.leases.close();
  }

  private writeLease(name: string, lease: Lease, condition: { absent: true } | { match: string }): Promise<string | null> {
    return this.withDeadline(`PUT ${name}`, this.timeoutMs, (signal) =>
      this.store.write(this.bucket, this.prefix + name, Buffer.from(JSON.stringify(lease)), signal, condition),
    );
  }

  private readLease(name: string): Promise<{ text: string; match: string; ageMs: number | null } | null> {
    return this.withDeadline(`GET ${name}`, this.timeoutMs, async (signal) => {
      const read = await this.store.read(this.bucket, this.prefix + name, signal);
      if (read === null) return null;
      const bytes = await collect(read.body, MAX_LEASE_BYTES, () => read.cancel());
      return { text: bytes?.toString('utf8') ?? '', match: read.match, ageMs: read.ageMs };
    });
  }

  private readSmall(name: string, limit: number, budgetMs: number): Promise<Buffer | null> {
    return this.withDeadline(`GET ${name}`, budgetMs, async (signal) => {
      const read = await this.store.read(this.bucket, this.prefix + name, signal);
      if (read === null) return null;
      const bytes = await collect(read.body, limit, () => read.cancel());
      if (bytes === null) throw new RemoteError(`${this.label}: ${name} is larger than ${limit} bytes`);
      return bytes;
    });
  }

  private assertWritable(): void {
    if (this.readOnly) throw new Error(`${this.label} is read-only`);
  }

  // One operation within its deadline (withRemoteDeadline); the cloud's
  // refusals become RemoteErrors naming the store too.
  private async withDeadline<T>(what: string, budgetMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await withRemoteDeadline(this.label, what, budgetMs, work);
    } catch (err) {
      if (err instanceof CloudError) throw new RemoteError(`${this.label}: ${what}: ${err.message}`);
      throw err;
    }
  }
}

// A stored entry as gc reads it: a manifest of this version (signed or
// not), 'foreign' for one of a newer version, null for anything else.
function readEntry(key: string, bytes: Buffer): Manifest | 'foreign' | null {
  const raw = bytes.toString('utf8');
  const outer = parseDocument(raw, MANIFEST_LIMITS);
  if (!outer.ok) return null;
  const opened = openManifest(outer.value, raw, null);
  if (!opened.ok) return null;
  const parsed = opened.signed ? parseDocument(opened.text, MANIFEST_LIMITS) : outer;
  if (!parsed.ok) return null;
  const checked = validateManifest(parsed.value);
  if (!checked.ok) return checked.error.reason === 'foreign' ? 'foreign' : null;
  return checked.value.key === key ? checked.value : null;
}

// Runs `work` over `items`, at most `width` at once.
async function eachAtOnce<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

// A conditional write that met another in flight (S3's 409
// ConditionalRequestConflict) did not take the lease.
function conflictIsNull(err: unknown): null {
  if (err instanceof RemoteError && /ConditionalRequestConflict/.test(err.message)) return null;
  throw err;
}

// The body's bytes, or null once it passes `limit` (the rest unread).
async function collect(body: AsyncIterable<Buffer>, limit: number, cancel: () => void): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      cancel();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// The id of the holder that wrote a lease, or null.
function leaseId(text: string): string | null {
  const lease = parseLease(text);
  return lease !== null && typeof lease.id === 'string' ? lease.id : null;
}

// A lease's fields, if the text is a lease of ours (bounded: see json-document.ts).
function parseLease(text: string): Partial<Lease> | null {
  const parsed = parseDocument(text, SMALL_DOCUMENT_LIMITS);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return null;
  const lease = parsed.value as Partial<Lease>;
  return lease[LEASE_MARK] === 1 ? lease : null;
}

// Who holds a lease, from its text.
function describeLease(text: string): string {
  const lease = parseLease(text);
  if (lease !== null && typeof lease.host === 'string' && Number.isInteger(lease.pid)) return `process ${String(lease.pid)} on ${lease.host}`;
  return 'an unknown holder';
}

// What a read-only waiter gets once the lease is free: nothing to release.
function unlockedLock(waited: boolean): HeldLock {
  return { waited, lostReason: () => null, release: async () => {} };
}

