import {
  chmodSync,
  closeSync,
  lstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { displayHash, type BlobHash, type CacheKey } from '../../hash.js';
import { formatSizePair } from '../../size.js';
import type { BlobRef, Manifest } from '../../schema/manifest.js';
import { blobsOf, validateManifest } from '../../schema/manifest.js';
import { BlobWriter, type WrittenBlob } from './blob-writer.js';
import { copyAndHashAsync } from './file-copy.js';
import type { Host } from '../../engine/host.js';
import type { RemoteStore } from '../remote/remote-store.js';
import { copyFile, open, type FileHandle } from 'node:fs/promises';
import { recordEvent } from './activity.js';
import type { ActivityEvent, EntryStore, ReadEntryResult } from '../../engine/tiers.js';
import type { LeaseTiming, LockOutcome, WaitHooks } from '../../engine/lease.js';
import { lockKey } from './lock.js';
import { autoCollect } from './gc.js';
import { BlobFiles } from './blob-files.js';

// Layout under the cache directory:
//   entries/<k0k1>/<key>.json   one manifest per key
//   blobs/<h0h1>/<hash>         content-addressed bytes, shared by entries
//   tmp/                        recordings in progress (renamed away when done)
//   activity/                   hit and miss logs, and their summary (stats)
//   locks/<key>.lock/           held by the process recording a key
//   gc-stamp                    touched by each automatic gc
// Directories are 0700 and files 0600: outputs can hold customer data.

export type { ReadEntryResult } from '../../engine/tiers.js';

let tempCounter = 0;

const SUBDIRECTORIES = ['tmp', 'entries', 'blobs', 'activity', 'locks'];

// The local store is also a store in the sense of the remotes (RemoteStore):
// a cache directory on a file system that machines share (NFS, a mounted
// bucket) is a shared cache (--remote file:///mnt/team-cache), and the same
// contract tests run against it as against Redis and HTTP.
export class LocalStore implements EntryStore, RemoteStore {
  // temp copies of blobs found already stored, kept until a manifest names them
  private readonly spares: Array<{ tempPath: string; target: string }> = [];
  readonly label: string;

  constructor(
    readonly root: string,
    readonly host: Host,
    readonly readOnly = false,
  ) {
    this.label = root;
  }

  manifestPath(key: CacheKey): string {
    return join(this.root, 'entries', key.slice(0, 2), `${key}.json`);
  }

  blobPath(hash: BlobHash): string {
    return join(this.root, 'blobs', hash.slice(0, 2), hash);
  }

  // The hit path: one small read, a parse and a check. Never writes.
  readEntry(key: CacheKey): ReadEntryResult {
    let text: string;
    try {
      text = readFileSync(this.manifestPath(key), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'absent' };
      return { status: 'unreadable', detail: describeError(err) };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { status: 'bad', detail: text.length === 0 ? 'empty manifest' : 'garbled manifest' };
    }
    const manifest = validateManifest(parsed);
    if (!manifest.ok) {
      const problem = manifest.error;
      return problem.reason === 'foreign'
        ? { status: 'foreign', detail: problem.detail }
        : { status: 'bad', detail: `garbled manifest (${problem.detail})` };
    }
    if (manifest.value.key !== key) return { status: 'bad', detail: 'manifest filed under another key' };
    return { status: 'found', manifest: manifest.value };
  }

  // Checks that every blob is there with its recorded size, before a byte is
  // replayed; returns the first problem, or null.
  checkBlobs(manifest: Manifest): { hash: BlobHash; detail: string } | null {
    for (const ref of blobsOf(manifest)) {
      let size: number;
      try {
        size = statSync(this.blobPath(ref.hash)).size;
      } catch {
        return { hash: ref.hash, detail: `blob ${displayHash(ref.hash)} is missing` };
      }
      if (size !== ref.size) {
        const [found, recorded] = formatSizePair(size, ref.size);
        return { hash: ref.hash, detail: `blob ${displayHash(ref.hash)} has ${found}, not ${recorded}` };
      }
    }
    return null;
  }

  // Removes an entry found bad, and any blob found bad (content-addressed
  // storage would otherwise hand the same bad blob to the next recording).
  // The manifest is removed only if it is still the one that was judged, so
  // a good entry published meanwhile by another process survives.
  dropEntry(manifest: Manifest | null, key: CacheKey, badBlob: BlobHash | null): void {
    try {
      // recursive: whatever stands at a blob's path goes, even a directory
      if (badBlob) rmSync(this.blobPath(badBlob), { force: true, recursive: true });
    } catch {
      // the entry below is dropped all the same
    }
    try {
      const path = this.manifestPath(key);
      if (manifest) {
        const current = readFileSync(path, 'utf8');
        const parsed = validateManifest(safeParse(current));
        if (!parsed.ok || parsed.value.recordedAt !== manifest.recordedAt) return;
      }
      rmSync(path, { force: true });
    } catch {
      // Dropping is tidying: if it fails, the entry is still never replayed
      // because every read checks it again.
    }
  }

  // Creates the directories a recording needs. Throws if the cache cannot be
  // used; the caller then runs the command uncached.
  prepare(): void {
    const created = mkdirSync(this.root, { recursive: true, mode: 0o700 });
    if (created !== undefined) chmodSync(this.root, 0o700);
    const distrust = this.distrust();
    if (distrust !== null) throw new Error(distrust);
    for (const sub of SUBDIRECTORIES) this.makeDir(join(this.root, sub));
  }

  // Why the cache directory must not be used, or null. A directory that
  // another user owns or can write to could feed us their bytes as a
  // replay (a cache under a shared /tmp, say). A missing one is fine.
  distrust(): string | null {
    let st;
    try {
      st = statSync(this.root);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : describeError(err);
    }
    if (!st.isDirectory()) return `${this.root} is not a directory`;
    const uid = this.host.uid;
    if (uid !== null && st.uid !== uid) return `it belongs to another user (uid ${st.uid})`;
    if ((st.mode & 0o022) !== 0) return `others may write to it (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`;
    // dcache removes files under these: through a link it would remove
    // files elsewhere.
    for (const sub of SUBDIRECTORIES) {
      const path = join(this.root, sub);
      let sst;
      try {
        sst = lstatSync(path);
      } catch {
        continue;
      }
      if (sst.isSymbolicLink()) return `${path} is a symlink, and dcache follows no link inside its cache directory; remove it`;
      if (!sst.isDirectory()) return `${path} is not a directory; remove it`;
    }
    return null;
  }

  // Why ls, show, gc, stats and clear cannot use the directory, or null. A
  // directory that does not exist yet is an empty cache.
  unusable(): string | null {
    try {
      const st = statSync(this.root);
      if (!st.isDirectory()) return `the cache directory ${this.root} is not a directory`;
      readdirSync(this.root);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      return `cannot read the cache directory ${this.root} (${describeError(err)})`;
    }
    const distrust = this.distrust();
    return distrust === null ? null : `cannot use the cache directory ${this.root}: ${distrust}`;
  }

  // Every blob of an entry, opened (see BlobFiles); or the first that cannot be.
  openBlobs(manifest: Manifest): BlobFiles | { missing: BlobHash } {
    return BlobFiles.open(this, manifest);
  }

  // One line in the activity log; never fails.
  recordEvent(event: ActivityEvent): void {
    recordEvent(this.root, event);
  }

  // --- as a RemoteStore --------------------------------------------------

  // A manifest's bytes, unread otherwise: the caller checks them.
  async getManifest(key: CacheKey): Promise<Buffer | null> {
    try {
      return readFileSync(this.manifestPath(key));
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
  }

  async getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void): Promise<boolean> {
    let file: FileHandle;
    try {
      file = await open(this.blobPath(hash), 'r');
    } catch (err) {
      if (isAbsent(err)) return false;
      throw err;
    }
    try {
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) return true;
        await write(buffer.subarray(0, bytesRead));
      }
    } finally {
      await file.close();
    }
  }

  async hasBlob(hash: BlobHash): Promise<boolean> {
    try {
      return statSync(this.blobPath(hash)).isFile();
    } catch {
      return false;
    }
  }

  // Copies a file in as the blob `hash`, through the temp directory and a
  // rename. As with every remote, what is stored is checked when it is read.
  // The kernel copies it in one call, so `sent` hears of it once, at the end.
  async putBlob(hash: BlobHash, size: number, path: string, sent?: (bytes: number) => void): Promise<void> {
    this.assertWritable();
    const tempPath = this.tempPath();
    await copyFile(path, tempPath);
    sent?.(size);
    try {
      chmodSync(tempPath, 0o600);
      if (statSync(tempPath).size !== size) throw new Error(`${path} is not ${size} bytes`);
      this.publishBlob({ tempPath, hash, size });
    } catch (err) {
      rmSync(tempPath, { force: true });
      throw err;
    }
    // a blob already stored leaves its copy as a spare, which no manifest will claim
    this.discardSpares();
  }

  async putManifest(key: CacheKey, bytes: Buffer): Promise<void> {
    this.assertWritable();
    const target = this.manifestPath(key);
    this.makeDir(dirname(target));
    const temp = this.tempPath();
    writeFileSync(temp, bytes, { mode: 0o600, flag: 'wx' });
    try {
      renameSync(temp, target);
    } catch (err) {
      rmSync(temp, { force: true });
      throw err;
    }
  }

  // Single flight across the machines that share the directory.
  lock(key: CacheKey, timing: LeaseTiming, host: Host, hooks: WaitHooks): Promise<LockOutcome> {
    return this.lockKey(key, timing, host, hooks);
  }

  async close(): Promise<void> {
    // nothing is held open
  }

  private assertWritable(): void {
    if (this.readOnly) throw new Error(`${this.label} is read-only`);
  }

  // Single flight on this machine (and over NFS): see lock.ts.
  lockKey(key: CacheKey, timing: LeaseTiming, host: Host, hooks: WaitHooks): Promise<LockOutcome> {
    return lockKey(this.root, key, timing, host, hooks);
  }

  // The automatic clean-up after a miss: at most once an hour, down to
  // `maxSize` (see gc.ts).
  async collectNowAndThen(maxSize: number, now: number): Promise<void> {
    await autoCollect(this, maxSize, now);
  }

  createBlobWriter(): BlobWriter {
    return new BlobWriter(this.tempPath());
  }

  // Moves a finished temp blob to its content address. If identical content
  // is already stored, the temp copy is kept aside as a spare until the
  // manifest naming the blob is published (see settleSpares): a gc running
  // meanwhile may remove the stored copy, which no manifest names yet.
  publishBlob(blob: WrittenBlob): BlobRef {
    const target = this.blobPath(blob.hash);
    this.makeDir(dirname(target));
    try {
      if (statSync(target).size === blob.size) {
        this.spares.push({ tempPath: blob.tempPath, target });
        return { hash: blob.hash, size: blob.size };
      }
    } catch {
      // not stored yet
    }
    renameSync(blob.tempPath, target);
    syncDir(dirname(target));
    return { hash: blob.hash, size: blob.size };
  }

  // After a manifest is published: a stored copy that has gone is put back
  // from its spare, and the other spares are removed.
  private settleSpares(): void {
    for (const { tempPath, target } of this.spares.splice(0)) {
      try {
        statSync(target);
        rmSync(tempPath, { force: true });
      } catch {
        renameSync(tempPath, target);
      }
    }
  }

  // A recording abandoned after some of its blobs were published.
  discardSpares(): void {
    for (const { tempPath } of this.spares.splice(0)) rmSync(tempPath, { force: true });
  }

  // Copies a file into the store as a blob, hashing it on the way; a file
  // already stored is not stored twice.
  async storeFile(source: string): Promise<BlobRef> {
    const tempPath = this.tempPath();
    const input = openSync(source, 'r');
    let out: number | null = null;
    try {
      out = openSync(tempPath, 'wx', 0o600);
      const { hash, size } = await copyAndHashAsync(input, out);
      fsyncSync(out);
      closeSync(out);
      out = null;
      return this.publishBlob({ tempPath, hash, size });
    } catch (err) {
      rmSync(tempPath, { force: true });
      throw err;
    } finally {
      closeSync(input);
      if (out !== null) closeSync(out);
    }
  }

  // Makes an entry visible with one atomic rename, after its blobs.
  publishManifest(manifest: Manifest): void {
    const target = this.manifestPath(manifest.key);
    this.makeDir(dirname(target));
    const temp = this.tempPath();
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeFileSync(fd, JSON.stringify(manifest));
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(temp, { force: true });
      this.discardSpares();
      throw err;
    }
    closeSync(fd);
    try {
      renameSync(temp, target);
    } catch (err) {
      rmSync(temp, { force: true });
      this.discardSpares();
      throw err;
    }
    syncDir(dirname(target));
    this.settleSpares();
  }

  removeTemp(path: string): void {
    rmSync(path, { force: true });
  }

  // A fresh path in the store's temp directory, for a file to be published.
  tempPath(): string {
    tempCounter += 1;
    const unique = `${this.host.pid}-${this.host.wallNow().toString(36)}-${Math.random().toString(36).slice(2, 10)}-${tempCounter}`;
    return join(this.root, 'tmp', `${unique}.tmp`);
  }

  private makeDir(path: string): void {
    if (mkdirSync(path, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(path, 0o700);
  }
}

// Makes a rename durable across power loss. Not every platform lets a
// directory be fsynced; there the rename is as durable as the OS makes it.
function syncDir(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

import { describeError } from '../../errors.js';

export { describeError };
