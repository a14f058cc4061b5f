import { closeSync, openSync } from 'node:fs';
import type { BlobHash } from '../../hash.js';
import type { Manifest } from '../../schema/manifest.js';
import { blobsOf } from '../../schema/manifest.js';

// Every blob of an entry, opened before anything of it is written: an open
// file survives its unlink, so a gc or `clear` running meanwhile cannot take
// a blob away half-way through a replay. Each blob is opened once; readers
// read at their own positions.
export class BlobFiles {
  private readonly fds = new Map<string, number>();

  private constructor(private readonly store: { blobPath(hash: BlobHash): string }) {}

  static open(store: { blobPath(hash: BlobHash): string }, manifest: Manifest): BlobFiles | { missing: BlobHash } {
    const files = new BlobFiles(store);
    for (const ref of blobsOf(manifest)) {
      try {
        files.fds.set(ref.hash, openSync(store.blobPath(ref.hash), 'r'));
      } catch {
        files.close();
        return { missing: ref.hash };
      }
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
