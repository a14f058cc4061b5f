import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FetchedObject } from '../schema/fetched-object.js';
import type { BlobRef } from '../schema/output-record.js';

// The files `dcache fetch` writes below -o's directory. Each is written to
// a temp name beside its place and renamed over it, so that a reader sees
// the old file or the new one, never a part. A path is reached by looking
// at each folder on the way (lstat): a symlink or a file where a folder
// should be is refused, so that a key never writes outside the directory,
// whatever the tree holds. A removed object's file goes only if it is
// still the one fetch wrote.

// What a working copy is, next to what fetch recorded of it.
export type CopyState = 'same' | 'missing' | 'edited';

// Whether the file at `path` below `dir` is still the blob fetch wrote
// there: by its size and mtime, or if they moved, by its hash.
export async function workingCopy(dir: string, record: Pick<FetchedObject, 'path' | 'blob' | 'mtimeMs'>): Promise<CopyState> {
  const target = join(dir, record.path);
  let st;
  try {
    st = await lstat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return 'missing';
    throw err;
  }
  if (!st.isFile()) return 'edited';
  if (st.size !== record.blob.size) return 'edited';
  if (record.mtimeMs !== null && st.mtimeMs === record.mtimeMs) return 'same';
  return (await hashFile(target)) === record.blob.hash ? 'same' : 'edited';
}

// The SHA-256 of a file, streamed.
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// What stood at a path before fetch wrote it: nothing, the same bytes, or
// a file of the user's that fetch replaced.
export type Placed = { mtimeMs: number; replaced: 'nothing' | 'same' | 'other' };

let counter = 0;

// Puts the blob at `blobPath` in place as `path` below `dir`: folders made
// as needed, a temp copy beside it, its mode the umask's, then a rename.
export async function placeFile(dir: string, path: string, blobPath: string, blob: BlobRef, umask: number): Promise<Placed> {
  await makeFolders(dir, path);
  const target = join(dir, path);
  let replaced: Placed['replaced'] = 'nothing';
  try {
    const st = await lstat(target);
    if (st.isDirectory()) throw new FetchPathError(`${path} is a folder here`);
    replaced = st.isFile() && st.size === blob.size && (await hashFile(target)) === blob.hash ? 'same' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const temp = join(dirname(target), `.${path.split('/').pop()!.slice(0, 200)}.dcache-${Math.random().toString(36).slice(2, 10)}-${++counter}.tmp`);
  try {
    await copyFile(blobPath, temp);
    await chmod(temp, 0o666 & ~umask);
    const { mtimeMs, size } = await stat(temp);
    if (size !== blob.size) throw new Error(`the blob of ${path} is ${size} bytes, not ${blob.size}`);
    await rename(temp, target);
    return { mtimeMs, replaced };
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

// Removes the file fetch wrote at `path` if it is still what fetch wrote,
// and the folders it leaves empty (up to `dir`, which stays). An edited
// file is the user's now: it stays.
export async function removeFile(dir: string, record: Pick<FetchedObject, 'path' | 'blob' | 'mtimeMs'>): Promise<'removed' | 'gone' | 'edited'> {
  const state = await workingCopy(dir, record);
  if (state === 'missing') return 'gone';
  if (state === 'edited') return 'edited';
  await unlink(join(dir, record.path));
  const parts = record.path.split('/');
  for (let n = parts.length - 1; n > 0; n--) {
    try {
      await rmdir(join(dir, ...parts.slice(0, n)));
    } catch {
      break;
    }
  }
  return 'removed';
}

// A path that cannot be written where it should go: a symlink or a file
// in the way of a folder, a folder in the way of a file.
export class FetchPathError extends Error {}

// Makes the folders of `path` below `dir`, one at a time, refusing any
// that is not a real folder (a symlink to elsewhere, a file).
async function makeFolders(dir: string, path: string): Promise<void> {
  // -o's own directory, and its parents, as mkdir -p makes them
  await mkdir(dir, { recursive: true });
  const parts = path.split('/').slice(0, -1);
  let at = dir;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    try {
      const st = await lstat(at);
      if (st.isDirectory()) continue;
      throw new FetchPathError(`${parts.slice(0, i + 1).join('/')} is ${st.isSymbolicLink() ? 'a symlink' : 'a file'} where ${path} needs a folder`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      await mkdir(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // made meanwhile: looked at again
      const st = await lstat(at);
      if (!st.isDirectory()) throw new FetchPathError(`${parts.slice(0, i + 1).join('/')} is not a folder`);
    }
  }
}
