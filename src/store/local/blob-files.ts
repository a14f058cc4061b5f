import { closeSync } from 'node:fs';
import { displayHash, type BlobHash } from '../../core/hash.js';
import type { Manifest } from '../../schema/manifest.js';
import { blobsOf } from '../../schema/manifest.js';
import { openTrustedInFolder } from './ownership.js';
import { isCheckedAsIs, markChecked, sameStamp, settledAt, stampOfOpen, type FileStamp } from './check-marks.js';

// Every blob of an entry, opened before anything of it is written: an open
// file survives its unlink, so a gc or `clear` running meanwhile cannot take
// a blob away half-way through a replay. Each blob is opened once; readers
// read at their own positions. A blob (or its folder) that another user
// owns or could have written is not opened: see ownership.ts.
//
// Each blob's file is stamped as it is opened (check-marks.ts): one found as
// a hit checked it before is not hashed again; one that is not is hashed,
// and marked once its bytes match.
export interface BlobStoreFiles {
  blobPath(hash: BlobHash): string;
  checkMarkPath(hash: BlobHash): string;
}

export class BlobFiles {
  private readonly fds = new Map<string, number>();
  private readonly stamps = new Map<string, FileStamp>();
  private readonly checkedAsIs = new Set<string>();
  // the wall clock when the stamps were taken, in ns
  private readonly stampedAtNs = BigInt(Date.now()) * 1_000_000n;

  private constructor(
    private readonly store: BlobStoreFiles,
    private readonly tag: string,
  ) {}

  static open(store: BlobStoreFiles, manifest: Manifest, uid: number | null, tag: string): BlobFiles | { missing: BlobHash; detail: string } {
    const files = new BlobFiles(store, tag);
    for (const ref of blobsOf(manifest)) {
      if (files.fds.has(ref.hash)) continue;
      const path = store.blobPath(ref.hash);
      let detail: string;
      try {
        const opened = openTrustedInFolder(path, uid);
        if (opened.status === 'open') {
          files.fds.set(ref.hash, opened.fd);
          const stamp = stampOfOpen(opened.fd);
          files.stamps.set(ref.hash, stamp);
          if (isCheckedAsIs(store.checkMarkPath(ref.hash), stamp, uid)) files.checkedAsIs.add(ref.hash);
          continue;
        }
        detail = opened.status === 'absent' ? `blob ${displayHash(ref.hash)} is missing` : `blob ${displayHash(ref.hash)} is not trusted: ${opened.detail}`;
      } catch (err) {
        detail = `blob ${displayHash(ref.hash)} cannot be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      }
      files.close();
      return { missing: ref.hash, detail };
    }
    return files;
  }

  fd(hash: BlobHash): number {
    const fd = this.fds.get(hash);
    if (fd === undefined) throw new Error(`blob ${hash} was not opened`);
    return fd;
  }

  path(hash: BlobHash): string {
    return this.store.blobPath(hash);
  }

  // Asked again after the bytes are read: a file changed while it was read
  // has another ctime by then.
  checked(hash: BlobHash): boolean {
    if (!this.checkedAsIs.has(hash)) return false;
    try {
      return sameStamp(stampOfOpen(this.fd(hash)), this.stamps.get(hash)!);
    } catch {
      return false;
    }
  }

  noteChecked(hash: BlobHash): void {
    const stamp = this.stamps.get(hash);
    if (stamp === undefined || this.checkedAsIs.has(hash)) return;
    if (!settledAt(stamp, this.stampedAtNs)) return;
    markChecked(this.store.checkMarkPath(hash), stamp, this.tag);
    this.checkedAsIs.add(hash);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    this.stamps.clear();
    this.checkedAsIs.clear();
  }
}
