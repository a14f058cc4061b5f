import { closeSync, lstatSync, openSync, rmSync, statSync, utimesSync } from 'node:fs';
import { describeError } from '../../core/errors.js';
import { join } from 'node:path';
import { LOCAL_ZONE, parseZone, type Zone } from '../../policy/clock.js';
import type { CacheKey } from '../../core/hash.js';
import { blobsOf } from '../../schema/manifest.js';
import { judgePolicies, parsePolicies, type Verdict } from '../../policy/policy.js';
import { compactActivity, readActivity } from './activity.js';
import { checkMarkPath, dropMark } from './check-marks.js';
import { listBlobs, listKeys, readCatalog, safeReaddir, type CatalogEntry, type StoreFiles } from './catalog.js';

// A recording's temp files older than this belong to a crashed run.
const TEMP_AGE_MS = 60 * 60 * 1000;
// A blob no entry names is kept this long: a recording publishes its new
// blobs before its manifest. (A blob it finds already stored may go at
// any time: the recording keeps its own copy until its manifest is out,
// and puts it back if needed; see LocalStore.publishBlob.)
const ORPHAN_GRACE_MS = 60 * 60 * 1000;

export const DEFAULT_MAX_SIZE = 10 * 2 ** 30;
const AUTO_GC_INTERVAL_MS = 60 * 60 * 1000;

export interface GcOptions {
  // remove least recently used entries until the blobs total at most this
  maxSize: number | null;
  // remove entries stale for longer than this
  maxAgeMs: number | null;
  // remove least recently used entries until at most this many are left
  maxEntries?: number | null;
  now: number;
}

export interface GcReport {
  entries: number;
  blobs: number;
  temps: number;
  bytes: number;
  // files that could not be removed (a read-only file system), and why the first could not
  failed: number;
  failure: string | null;
}

export function emptyReport(): GcReport {
  return { entries: 0, blobs: 0, temps: 0, bytes: 0, failed: 0, failure: null };
}

// Removes a file (or what stands in its place) for gc, counting it as
// `count` says; one removed meanwhile is no failure.
function removeCounted(path: string, report: GcReport, count: (size: number) => void): void {
  let size = 0;
  try {
    size = lstatSync(path).size;
    rmSync(path, { force: true, recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    report.failed += 1;
    report.failure ??= describeError(err);
    return;
  }
  count(size);
}

// Removes what no longer earns its place, in this order: temp files of
// crashed recordings, damaged entries, entries stale for longer than
// maxAge, least recently used entries beyond maxSize, then beyond
// maxEntries, and blobs no entry names. Safe to run while other processes
// record and replay.
export async function collectGarbage(store: StoreFiles, options: GcOptions): Promise<GcReport> {
  const report = emptyReport();
  const wallNow = store.host.wallNow();
  // a second's margin for file systems that keep mtimes coarsely
  const started = wallNow - 1000;
  const old = (path: string) => {
    try {
      return wallNow - lstatSync(path).mtimeMs >= TEMP_AGE_MS;
    } catch {
      return false;
    }
  };
  // Debris of crashed runs: recordings' temp files, and the temp files of
  // locks being made (locks/<key>.lock.<token>.new) by a process killed
  // between writing and linking one; and the outcomes of failed runs kept
  // for their waiters (locks/<key>.outcome.<token>.json), whose waiters
  // have long had them.
  const debris = [
    ...safeReaddir(join(store.root, 'tmp')).map((name) => join(store.root, 'tmp', name)),
    ...safeReaddir(join(store.root, 'locks'))
      .filter((name) => /\.lock(\.break)?\.[0-9a-f-]{36}\.new$|\.outcome\.[0-9a-f-]{36}\.json$/.test(name))
      .map((name) => join(store.root, 'locks', name)),
  ];
  for (const path of debris) {
    if (!old(path)) continue;
    removeCounted(path, report, (size) => {
      report.temps += 1;
      report.bytes += size;
    });
  }
  const catalog = readCatalog(store);
  for (const key of catalog.bad) removeEntry(store, key, report);
  const removed: CatalogEntry[] = [];
  let kept = catalog.entries;
  if (options.maxAgeMs !== null) {
    const survivors: CatalogEntry[] = [];
    for (const entry of kept) {
      const { expiresAt } = await storedVerdict(entry, options.now);
      if (expiresAt !== null && options.now - expiresAt > options.maxAgeMs) removed.push(entry);
      else survivors.push(entry);
    }
    kept = survivors;
  }
  // the least recently used first, by last hit or recording
  const byUse = (entries: CatalogEntry[]) => {
    const activity = readActivity(store.root);
    const lastUse = (e: CatalogEntry) => Math.max(e.manifest.recordedAt, activity.keys.get(e.key)?.lastHitAt ?? 0);
    return [...entries].sort((a, b) => lastUse(a) - lastUse(b));
  };
  if (options.maxSize !== null) {
    const refs = new Map<string, { size: number; count: number }>();
    let total = 0;
    for (const entry of kept) {
      for (const blob of blobsOf(entry.manifest)) {
        const ref = refs.get(blob.hash);
        if (ref) ref.count += 1;
        else {
          refs.set(blob.hash, { size: blob.size, count: 1 });
          total += blob.size;
        }
      }
    }
    const evicted = new Set<CatalogEntry>();
    for (const entry of byUse(kept)) {
      if (total <= options.maxSize) break;
      evicted.add(entry);
      for (const blob of blobsOf(entry.manifest)) {
        const ref = refs.get(blob.hash)!;
        ref.count -= 1;
        if (ref.count === 0) total -= ref.size;
      }
    }
    removed.push(...evicted);
    kept = kept.filter((e) => !evicted.has(e));
  }
  const maxEntries = options.maxEntries ?? null;
  if (maxEntries !== null && kept.length > maxEntries) {
    const evicted = new Set(byUse(kept).slice(0, kept.length - maxEntries));
    removed.push(...evicted);
    kept = kept.filter((e) => !evicted.has(e));
  }
  for (const entry of removed) removeEntry(store, entry.key, report);
  sweepBlobs(store, kept, new Set(removed.flatMap((e) => blobsOf(e.manifest).map((b) => b.hash))), report, started);
  try {
    compactActivity(store.root, options.now, store.host.pid);
  } catch (err) {
    report.failed += 1;
    report.failure ??= describeError(err);
  }
  return report;
}

// Removes the blobs that no kept entry names: those of removed entries at
// once, others once they are an hour old.
// Manifests published since `since` (by recordings that finished while
// this ran) name blobs too.
export function sweepBlobs(
  store: StoreFiles,
  kept: readonly CatalogEntry[],
  released: Set<string>,
  report: GcReport,
  since: number,
): void {
  const named = new Set<string>(kept.flatMap((e) => blobsOf(e.manifest).map((b) => b.hash)));
  const wallNow = store.host.wallNow();
  const doomed = listBlobs(store).filter(
    (blob) => !named.has(blob.hash) && (released.has(blob.hash) || wallNow - blob.mtimeMs >= ORPHAN_GRACE_MS),
  );
  // Manifests published since `since` (recordings that finished while this
  // ran) name blobs too; they are looked for last, just before deleting,
  // to leave a recording the smallest window.
  const spared = namedSince(store, since);
  for (const blob of doomed) {
    if (spared.has(blob.hash)) continue;
    // the mark first: a mark without its blob is harmless, never the reverse
    dropMark(checkMarkPath(store.root, blob.hash));
    removeCounted(blob.path, report, () => {
      report.blobs += 1;
      report.bytes += blob.size;
    });
  }
}

function namedSince(store: StoreFiles, since: number): Set<string> {
  const named = new Set<string>();
  for (const key of listKeys(store)) {
    try {
      if (statSync(store.manifestPath(key)).mtimeMs < since) continue;
    } catch {
      continue;
    }
    const read = store.readEntry(key);
    if (read.status === 'found') for (const b of blobsOf(read.manifest)) named.add(b.hash);
  }
  return named;
}

export function removeEntry(store: StoreFiles, key: CacheKey, report: GcReport): void {
  removeCounted(store.manifestPath(key), report, (size) => {
    report.entries += 1;
    report.bytes += size;
  });
}

const parsedPolicies = new Map<string, ReturnType<typeof parsePolicies>>();
const zones = new Map<string, Zone>();

// The zone an entry was recorded in: its calendar policies are judged
// there, whatever the zone of the process that asks (ls, show, gc).
export function storedZone(entry: CatalogEntry): Zone {
  const name = entry.manifest.tz;
  if (name === null) return LOCAL_ZONE;
  let zone = zones.get(name);
  if (zone === undefined) {
    const parsed = parseZone(name);
    zone = parsed.ok ? parsed.value : LOCAL_ZONE;
    zones.set(name, zone);
  }
  return zone;
}

// An entry's freshness under the policies and in the zone it was recorded
// with (ls, show and gc have no command line to take others from).
export async function storedVerdict(entry: CatalogEntry, now: number): Promise<Verdict> {
  const zone = storedZone(entry);
  // Parsed once per distinct list and zone: with many entries (ls, gc),
  // building a cron schedule per entry costs seconds and memory.
  const spec = JSON.stringify([entry.manifest.policies, zone.name]);
  let parsing = parsedPolicies.get(spec);
  if (!parsing) {
    parsing = parsePolicies(entry.manifest.policies, zone);
    parsedPolicies.set(spec, parsing);
  }
  const policies = await parsing;
  if (!policies.ok) return { fresh: false, expiresAt: entry.manifest.recordedAt };
  return judgePolicies(policies.value, entry.manifest.recordedAt, now, zone);
}

// The automatic clean-up after a miss: at most once an hour (a stamp file's
// mtime says when it last ran), and only the size limit and crash debris.
export async function autoCollect(store: StoreFiles, maxSize: number, now: number): Promise<GcReport | null> {
  const stamp = join(store.root, 'gc-stamp');
  const wallNow = store.host.wallNow();
  try {
    if (wallNow - statSync(stamp).mtimeMs < AUTO_GC_INTERVAL_MS) return null;
  } catch {
    // never ran
  }
  try {
    closeSync(openSync(stamp, 'a', 0o600));
    utimesSync(stamp, new Date(wallNow), new Date(wallNow));
  } catch {
    return null;
  }
  return collectGarbage(store, { maxSize, maxAgeMs: null, now });
}
