import { closeSync } from 'node:fs';
import { isSha256, type BlobHash } from '../../core/hash.js';
import { blobsOf } from '../../schema/manifest.js';
import { readCatalog, listBlobs } from './catalog.js';
import { markChecked, sameStamp, settledAt, stampOfOpen } from './check-marks.js';
import { hashOpenFileAsync } from './file-copy.js';
import type { LocalStore } from './local-store.js';
import { openTrustedInFolder } from './ownership.js';

// dcache verify: every blob of the cache directory hashed again. A hit
// trusts a blob it checked before while its file is unchanged (its device,
// inode, size, mtime and ctime: check-marks.ts), for a week; this is the
// full check, for a cron line or after a disk's trouble, of what no write
// changes (a failing disk, a restore from backup that kept the times).
//
// A blob whose bytes match its name is marked checked, as a hit marks it.
// One that does not is removed, with every entry that names it: the next
// run of those commands runs them again. Blobs another user owns or could
// have written are left unread: no hit reads them either (ownership.ts).

export interface DamagedBlob {
  hash: BlobHash;
  // the SHA-256 of the bytes found, or what could not be read
  found: string;
  // the entries that named it, removed with it
  entries: number;
}

export interface VerifyReport {
  blobs: number;
  bytes: number;
  damaged: DamagedBlob[];
  // blobs left unread: not trusted, or removed while this ran
  skipped: number;
}

export async function verifyStore(store: LocalStore): Promise<VerifyReport> {
  const report: VerifyReport = { blobs: 0, bytes: 0, damaged: [], skipped: 0 };
  const bad = new Map<BlobHash, string>();
  for (const blob of listBlobs(store)) {
    // anything else in blobs/ is a temp file or debris: gc's business
    if (!isSha256(blob.hash)) continue;
    const hash = blob.hash as BlobHash;
    const checked = await checkBlob(store, hash);
    if (checked === null) {
      report.skipped += 1;
      continue;
    }
    report.blobs += 1;
    report.bytes += checked.bytes;
    if (checked.found !== hash) bad.set(hash, checked.found);
  }
  if (bad.size === 0) return report;
  const named = new Map<BlobHash, number>();
  for (const entry of readCatalog(store).entries) {
    const hashes = new Set(blobsOf(entry.manifest).map((ref) => ref.hash));
    const damaged = [...hashes].filter((hash) => bad.has(hash));
    if (damaged.length === 0) continue;
    store.dropEntry(entry.manifest, entry.key, null);
    for (const hash of damaged) named.set(hash, (named.get(hash) ?? 0) + 1);
  }
  for (const [hash, found] of bad) {
    store.dropBlob(hash);
    report.damaged.push({ hash, found, entries: named.get(hash) ?? 0 });
  }
  return report;
}

// The SHA-256 of a blob's bytes and their number, the blob marked checked
// if they match its name and it did not change while it was read; null if
// it is not to be read (not trusted, or gone).
async function checkBlob(store: LocalStore, hash: BlobHash): Promise<{ found: string; bytes: number } | null> {
  const path = store.blobPath(hash);
  let fd: number;
  try {
    const opened = openTrustedInFolder(path, store.host.uid);
    if (opened.status !== 'open') return null;
    fd = opened.fd;
  } catch {
    return null;
  }
  try {
    const stamp = stampOfOpen(fd);
    const stampedAtNs = BigInt(Date.now()) * 1_000_000n;
    const { hash: found, size } = await hashOpenFileAsync(fd);
    if (found === hash && settledAt(stamp, stampedAtNs) && sameStamp(stampOfOpen(fd), stamp)) {
      markChecked(store.checkMarkPath(hash), stamp, String(store.host.pid));
    }
    return { found, bytes: size };
  } catch (err) {
    return { found: `unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, bytes: 0 };
  } finally {
    closeSync(fd);
  }
}
