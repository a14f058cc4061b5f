import { closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { displayHash, type BlobHash } from '../../core/hash.js';
import type { Manifest } from '../../schema/manifest.js';
import { blobsOf } from '../../schema/manifest.js';
import { distrustDir, openTrusted } from './ownership.js';

// Every blob of an entry, opened before anything of it is written: an open
// file survives its unlink, so a gc or `clear` running meanwhile cannot take
// a blob away half-way through a replay. Each blob is opened once; readers
// read at their own positions. A blob (or its folder) that another user
// owns or could have written is not opened: see ownership.ts.
export class BlobFiles {
  private readonly fds = new Map<string, number>();

  private constructor(private readonly store: { blobPath(hash: BlobHash): string }) {}

  static open(store: { blobPath(hash: BlobHash): string }, manifest: Manifest, uid: number | null): BlobFiles | { missing: BlobHash; detail: string } {
    const files = new BlobFiles(store);
    for (const ref of blobsOf(manifest)) {
      const path = store.blobPath(ref.hash);
      let detail: string;
      try {
        const folder = distrustDir(dirname(path), uid);
        const opened = folder === null ? openTrusted(path, uid) : null;
        if (opened?.status === 'open') {
          files.fds.set(ref.hash, opened.fd);
          continue;
        }
        detail =
          folder === 'absent' || opened?.status === 'absent'
            ? `blob ${displayHash(ref.hash)} is missing`
            : `blob ${displayHash(ref.hash)} is not trusted: ${folder ?? (opened as { detail: string }).detail}`;
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

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
