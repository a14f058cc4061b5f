import {
  accessSync,
  chmodSync,
  constants,
  closeSync,
  lstatSync,
  fsyncSync,
  openSync,
  read,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { displayHash, type BlobHash, type CacheKey } from '../../core/hash.js';
import { formatSizePair } from '../../core/size.js';
import type { BlobRef, Manifest } from '../../schema/manifest.js';
import { blobsOf, validateManifest } from '../../schema/manifest.js';
import { BlobWriter, type WrittenBlob } from './blob-writer.js';
import { copyAndHashAsync } from './file-copy.js';
import type { Host } from '../../ports/host.js';
import { RemoteError, type RemoteGcOptions, type RemoteGcReport, type RemoteBackend } from '../remote/backend.js';
import { copyFile } from 'node:fs/promises';
import { recordEvent } from './activity.js';
import type { ActivityEvent, EntryStore, ReadEntryResult } from '../../ports/tiers.js';
import type { LeaseTiming, LockNote, LockOutcome, WaitHooks } from '../../ports/lease.js';
import { claimRefresh, dropRefreshClaim, lockKey } from './lock.js';
import { autoCollect, collectGarbage } from './gc.js';
import { BlobFiles } from './blob-files.js';
import { MANIFEST_LIMITS, parseDocument } from '../../core/json-document.js';
import { distrustDir, distrustOf, openTrustedInFolder, readTrusted, stampOf, type ReadFile } from './ownership.js';
import { makeDirs } from './make-dirs.js';
import { checkMarkPath, dropMark } from './check-marks.js';

// Layout under the cache directory:
//   entries/<k0k1>/<key>.json   one manifest per key
//   blobs/<h0h1>/<hash>         content-addressed bytes, shared by entries
//   tmp/                        recordings in progress (renamed away when done)
//   activity/                   hit and miss logs, and their summary (stats)
//   locks/<key>.lock/           held by the process recording a key
//   gc-stamp                    touched by each automatic gc
//   CACHEDIR.TAG, .gitignore    written when dcache creates the directory
// Directories are 0700 and files 0600: outputs can hold customer data.

export type { ReadEntryResult } from '../../ports/tiers.js';

let tempCounter = 0;

// A run's id: its lock's token, a UUID (a file name part, nothing else).
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const SUBDIRECTORIES = ['tmp', 'entries', 'blobs', 'activity', 'locks'];

// Written into a cache directory when dcache creates it; see tagAsCache().
const CACHE_TAGS: ReadonlyArray<[string, string]> = [
  [
    'CACHEDIR.TAG',
    'Signature: 8a477f597d28d172789f06886806bc55\n' +
      '# This file is a cache directory tag created by dcache.\n' +
      '# For information about cache directory tags, see https://bford.info/cachedir/\n',
  ],
  ['.gitignore', '# Created by dcache, so that git leaves its cache directory alone.\n*\n'],
];

// The local store is also a store in the sense of the remotes (RemoteBackend):
// a cache directory on a file system that machines share (NFS, a mounted
// bucket) is a shared cache (--remote file:///mnt/team-cache), and the same
// contract tests run against it as against Redis and HTTP.
export class LocalStore implements EntryStore, RemoteBackend {
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

  checkMarkPath(hash: BlobHash): string {
    return checkMarkPath(this.root, hash);
  }

  // The hit path: one small read, a parse and a check. Never writes. The
  // manifest and the folder it is in must be the user's own, and no one
  // else may write to them (see ownership.ts).
  readEntry(key: CacheKey): ReadEntryResult {
    const path = this.manifestPath(key);
    let read: ReadFile;
    try {
      const shard = distrustDir(dirname(path), this.host.uid);
      if (shard === 'absent') return { status: 'absent' };
      if (shard !== null) return { status: 'distrusted', detail: shard };
      read = readTrusted(path, this.host.uid, MANIFEST_LIMITS.maxLength);
    } catch (err) {
      return { status: 'unreadable', detail: describeError(err) };
    }
    switch (read.status) {
      case 'absent':
        return { status: 'absent' };
      case 'distrusted':
        return { status: 'distrusted', detail: read.detail };
      case 'too-large':
        return { status: 'bad', detail: `manifest of ${read.size} bytes, over the ${MANIFEST_LIMITS.maxLength} a manifest may have` };
      case 'read':
        break;
    }
    const parsed = parseDocument(read.bytes.toString('utf8'), MANIFEST_LIMITS);
    if (!parsed.ok) return { status: 'bad', detail: describeGarbled(parsed.error) };
    const manifest = validateManifest(parsed.value);
    if (!manifest.ok) {
      const problem = manifest.error;
      return problem.reason === 'foreign'
        ? { status: 'foreign', detail: problem.detail }
        : { status: 'bad', detail: `garbled manifest (${problem.detail})` };
    }
    if (manifest.value.key !== key) return { status: 'bad', detail: 'manifest filed under another key' };
    return { status: 'found', manifest: manifest.value, stamp: read.stamp };
  }

  entryStamp(key: CacheKey): string | null {
    try {
      return stampOf(lstatSync(this.manifestPath(key)));
    } catch {
      return null;
    }
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
      if (badBlob) this.dropBlob(badBlob);
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

  // Removes a blob found bad, and its check mark first (a mark without its
  // blob is harmless, never the reverse). Recursive: whatever stands at a
  // blob's path goes, even a directory.
  dropBlob(hash: BlobHash): void {
    dropMark(this.checkMarkPath(hash));
    rmSync(this.blobPath(hash), { force: true, recursive: true });
  }

  // Creates the directories a recording needs. Throws if the cache cannot be
  // used; the caller then runs the command uncached.
  prepare(): void {
    if (makeDirs(this.root, 0o700) !== undefined) {
      chmodSync(this.root, 0o700);
      this.tagAsCache();
    }
    const distrust = this.whyNotTrusted();
    if (distrust !== null) throw new Error(distrust);
    for (const sub of SUBDIRECTORIES) this.makeDir(join(this.root, sub));
  }

  // Marks a cache directory dcache has just made: backup tools that follow
  // the Cache Directory Tagging spec skip it, and git ignores it (a cache
  // inside a project). Never in a directory that already existed: --dir
  // may name one of the user's own.
  private tagAsCache(): void {
    for (const [name, text] of CACHE_TAGS) {
      try {
        writeFileSync(join(this.root, name), text, { flag: 'wx', mode: 0o600 });
      } catch {
        // the cache works without them
      }
    }
  }

  // Why the cache directory must not be used, or null. A directory that
  // another user owns or can write to could feed us their bytes as a
  // replay (a cache under a shared /tmp, say); so could any folder in it.
  // A missing one is fine.
  whyNotTrusted(): string | null {
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
    for (const sub of SUBDIRECTORIES) {
      try {
        const problem = distrustDir(join(this.root, sub), uid);
        if (problem !== null && problem !== 'absent') return problem;
      } catch (err) {
        return describeError(err);
      }
    }
    return null;
  }

  // Why nothing can be removed from the cache (gc, clear), or null: a
  // read-only file system (EROFS), or folders this user may not write.
  whyNotWritable(): string | null {
    for (const path of [this.root, ...['entries', 'blobs'].map((sub) => join(this.root, sub))]) {
      try {
        accessSync(path, constants.W_OK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        return code === 'EROFS' ? 'it is on a read-only file system' : describeError(err);
      }
    }
    return null;
  }

  // Why ls, show, gc, stats and clear cannot use the directory, or null. A
  // directory that does not exist yet is an empty cache.
  whyNotListable(): string | null {
    try {
      const st = statSync(this.root);
      if (!st.isDirectory()) return `the cache directory ${this.root} is not a directory`;
      readdirSync(this.root);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      return `cannot read the cache directory ${this.root} (${describeError(err)})`;
    }
    const distrust = this.whyNotTrusted();
    return distrust === null ? null : `cannot use the cache directory ${this.root}: ${distrust}`;
  }

  // Every blob of an entry, opened (see BlobFiles); or the first that cannot be.
  openBlobs(manifest: Manifest): BlobFiles | { missing: BlobHash; detail: string } {
    return BlobFiles.open(this, manifest, this.host.uid, String(this.host.pid));
  }

  // One line in the activity log; never fails.
  recordEvent(event: ActivityEvent): void {
    recordEvent(this.root, event);
  }

  // --- as a RemoteBackend --------------------------------------------------

  // A manifest's bytes, unread otherwise: the caller checks them.
  // A manifest's bytes, unread otherwise: the caller checks them. Files and
  // folders another user could have written are refused, as they are for
  // the local cache.
  async getManifest(key: CacheKey): Promise<Buffer | null> {
    const path = this.manifestPath(key);
    const folder = distrustDir(dirname(path), this.host.uid);
    if (folder === 'absent') return null;
    if (folder !== null) throw new RemoteError(`${this.label}: ${folder}`);
    const read = readTrusted(path, this.host.uid, MANIFEST_LIMITS.maxLength);
    switch (read.status) {
      case 'absent':
        return null;
      case 'distrusted':
        throw new RemoteError(`${this.label}: ${read.detail}`);
      case 'too-large':
        throw new RemoteError(`${this.label}: the manifest of ${key} is ${read.size} bytes, over the ${MANIFEST_LIMITS.maxLength} a manifest may have`);
      case 'read':
        return read.bytes;
    }
  }

  async getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void): Promise<boolean> {
    const opened = openTrustedInFolder(this.blobPath(hash), this.host.uid);
    if (opened.status === 'absent') return false;
    if (opened.status === 'distrusted') throw new RemoteError(`${this.label}: ${opened.detail}`);
    try {
      const buffer = Buffer.allocUnsafe(1 << 20);
      let position = 0;
      for (;;) {
        const bytesRead = await new Promise<number>((resolve, reject) =>
          read(opened.fd, buffer, 0, buffer.length, position, (err, n) => (err ? reject(err) : resolve(n))),
        );
        if (bytesRead === 0) return true;
        position += bytesRead;
        await write(buffer.subarray(0, bytesRead));
      }
    } finally {
      closeSync(opened.fd);
    }
  }

  // Whether the blob is stored, as a file of the user's own: one that
  // another user could have written is replaced by the next upload.
  async hasBlob(hash: BlobHash): Promise<boolean> {
    try {
      const st = lstatSync(this.blobPath(hash));
      return st.isFile() && distrustOf(st, this.host.uid, 'the blob') === null;
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

  // One background refresh per stale storm (see lock.ts): whether this
  // call may start it; and, from the refresh as it ends, the claim removed.
  claimRefresh(key: CacheKey): boolean {
    try {
      return claimRefresh(this.root, key, this.host);
    } catch {
      return true;
    }
  }

  dropRefreshClaim(key: CacheKey): void {
    try {
      dropRefreshClaim(this.root, key);
    } catch {
      // it lapses
    }
  }

  // Single flight on this machine (and over NFS): see lock.ts.
  lockKey(key: CacheKey, timing: LeaseTiming, host: Host, hooks: WaitHooks, note?: LockNote): Promise<LockOutcome> {
    return lockKey(this.root, key, timing, host, hooks, note);
  }

  // dcache gc --remote file://…: the clean-up of a cache directory, on one
  // that machines share (see gc.ts).
  async collectGarbage(options: RemoteGcOptions): Promise<RemoteGcReport> {
    const { entries, blobs, bytes, temps, failed, failure } = await collectGarbage(this, { maxSize: options.maxSize, maxAgeMs: options.maxAgeMs, maxEntries: options.maxEntries, now: options.now });
    return { entries, blobs, bytes, temps, failed, failure };
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
      // (a copy that another user could have written is replaced)
      const st = lstatSync(target);
      if (st.isFile() && st.size === blob.size && distrustOf(st, this.host.uid, target) === null) {
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

  // Where the outcome of the run `runId` (its lock's id) of a key is kept
  // for the callers that waited for it: a failure, which is not an entry.
  outcomePath(key: CacheKey, runId: string): string {
    return join(this.root, 'locks', `${key}.outcome.${runId}.json`);
  }

  // Keeps a failed run's outcome (a manifest that no lookup finds) for the
  // callers that waited for that run; gc removes it after an hour.
  publishOutcome(manifest: Manifest, runId: string): void {
    if (!RUN_ID.test(runId)) return;
    const target = this.outcomePath(manifest.key, runId);
    this.makeDir(dirname(target));
    const temp = this.tempPath();
    try {
      writeFileSync(temp, JSON.stringify(manifest), { mode: 0o600, flag: 'wx' });
      renameSync(temp, target);
    } catch (err) {
      rmSync(temp, { force: true });
      this.discardSpares();
      throw err;
    }
    this.settleSpares();
  }

  // The outcome of one of the runs `runIds` of this key, if one was kept
  // (see publishOutcome), read and checked as an entry is.
  readOutcome(key: CacheKey, runIds: Iterable<string>): Manifest | null {
    for (const runId of runIds) {
      if (!RUN_ID.test(runId)) continue;
      let read: ReadFile;
      try {
        read = readTrusted(this.outcomePath(key, runId), this.host.uid, MANIFEST_LIMITS.maxLength);
      } catch {
        continue;
      }
      if (read.status !== 'read') continue;
      const parsed = parseDocument(read.bytes.toString('utf8'), MANIFEST_LIMITS);
      const manifest = parsed.ok ? validateManifest(parsed.value) : null;
      if (manifest?.ok && manifest.value.key === key) return manifest.value;
    }
    return null;
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

  // Makes a folder of the cache (and its parents), 0700, and checks that
  // what is there is the user's own: nothing is written into a folder
  // another user could write to.
  private makeDir(path: string): void {
    if (makeDirs(path, 0o700) !== undefined) chmodSync(path, 0o700);
    const problem = distrustDir(path, this.host.uid);
    if (problem !== null && problem !== 'absent') throw new Error(problem);
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

function safeParse(text: string): unknown {
  const parsed = parseDocument(text, MANIFEST_LIMITS);
  return parsed.ok ? parsed.value : undefined;
}

// Why a manifest's text is not a document, for the warning.
function describeGarbled(problem: string): string {
  if (problem === 'empty') return 'empty manifest';
  return problem === 'not valid JSON' ? 'garbled manifest' : `garbled manifest (${problem})`;
}

import { describeError } from '../../core/errors.js';

export { describeError };
