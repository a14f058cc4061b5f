import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import type { Result } from '../errors.js';
import { fail, ok } from '../errors.js';
import { displayHash, type BlobHash } from '../hash.js';
import type { BlobRef, OutputRecord } from '../schema/output-record.js';
import { safeMode } from '../schema/output-record.js';
import { copyAndHash, hashOpenFile } from '../store/local/file-copy.js';
import type { LocalStore } from '../store/local/local-store.js';

// Output files: declared with -o, captured into the store after a
// successful run, restored on a hit. Paths in a manifest are relative,
// '/'-separated, and always inside one of the declared outputs.

export type { OutputRecord } from '../schema/output-record.js';

// A declared output as it goes into the key: relative to the working
// directory, normalised, '/'-separated. Refused when it leaves the tree.
export function normalizeOutputPath(cwd: string, given: string): Result<string, string> {
  if (given.trim() === '') return fail("--output '' is empty; give a file or directory path inside the working directory");
  const rel = relative(cwd, resolve(cwd, given));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    return fail(`--output '${given}' is not inside the working directory; outputs are restored relative to it`);
  }
  return ok(rel.split(sep).join('/'));
}

// Whether a manifest path may be written: relative, no '.' or '..' segments,
// and equal to or under a declared output.
export function isSafeOutputPath(path: string, declared: readonly string[]): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\0')) return false;
  if (path.split('/').some((part) => part === '' || part === '.' || part === '..')) return false;
  return declared.some((root) => path === root || path.startsWith(`${root}/`));
}

export type CaptureProblem =
  | { reason: 'missing'; path: string }
  // reached through a symlink that leads out of the working directory
  | { reason: 'outside'; path: string }
  | { reason: 'failed'; detail: string };

// Walks each declared output and stores every file's bytes as a blob;
// directories recurse, symlinks are recorded, not followed.
export async function captureOutputs(
  store: LocalStore,
  cwd: string,
  declared: readonly string[],
): Promise<Result<OutputRecord[], CaptureProblem>> {
  const records: OutputRecord[] = [];
  const visit = async (rel: string): Promise<void> => {
    const abs = join(cwd, rel);
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) {
      records.push({ path: rel, type: 'symlink', target: readlinkSync(abs) });
    } else if (st.isDirectory()) {
      records.push({ path: rel, type: 'dir', mode: st.mode & 0o7777 });
      for (const name of readdirSync(abs).sort()) await visit(`${rel}/${name}`);
    } else if (st.isFile()) {
      records.push({ path: rel, type: 'file', mode: st.mode & 0o7777, blob: await store.storeFile(abs) });
    }
    // Sockets, FIFOs and devices are not data; they are skipped.
  };
  for (const path of declared) {
    try {
      lstatSync(join(cwd, path));
    } catch {
      return fail({ reason: 'missing', path });
    }
  }
  try {
    // An output that a restore would refuse is not worth recording.
    const root = realpathSync(cwd);
    const outside = declared.find((path) => !isInside(root, realpathSync(dirname(join(cwd, path)))));
    if (outside !== undefined) return fail({ reason: 'outside', path: outside });
    for (const path of declared) await visit(path);
  } catch (err) {
    return fail({ reason: 'failed', detail: (err as Error).message });
  }
  return ok(records);
}

export type RestoreProblem =
  // the manifest names a path outside the declared outputs or the tree
  | { reason: 'unsafe'; path: string }
  // a stored blob is not what the manifest says
  | { reason: 'bad-blob'; hash: BlobHash; detail: string }
  // the file system refused (a directory where a file goes, permissions...)
  | { reason: 'failed'; detail: string };

// Restores every output: each file is written to a temp name in its target
// directory and renamed into place, so no reader sees half a file. Nothing
// is written through a symlink that leads out of the working directory.
// The blobs of the entry being restored, already open (see OpenBlobs), and
// where each is stored.
export interface BlobSource {
  fd(hash: BlobHash): number;
  path(hash: BlobHash): string;
}

export async function restoreOutputs(
  blobs: BlobSource,
  cwd: string,
  declared: readonly string[],
  records: readonly OutputRecord[],
  tag: string,
): Promise<Result<void, RestoreProblem>> {
  let root: string;
  try {
    root = realpathSync(cwd);
  } catch (err) {
    return fail({ reason: 'failed', detail: (err as Error).message });
  }
  // Every record is checked before anything is written, so a refused entry
  // leaves the tree as it was.
  const unsafe = findUnsafeRecord(root, cwd, declared, records);
  if (unsafe !== undefined) return fail({ reason: 'unsafe', path: unsafe });
  // Creates the parents of `rel`, checking first that what exists of them
  // resolves inside the tree (an earlier record may have replaced a
  // directory with a symlink), so mkdir never follows a link out.
  const parentInside = (rel: string): string | null => {
    const parent = dirname(join(cwd, rel));
    if (!resolvesInside(root, parent)) return null;
    mkdirSync(parent, { recursive: true, mode: 0o755 });
    return resolvesInside(root, parent) ? parent : null;
  };
  // Directory modes are applied last, deepest first, so that a read-only
  // directory does not stop its own files from being restored.
  const dirModes: Array<[string, number]> = [];
  try {
    for (const record of records) {
      const parent = parentInside(record.path);
      if (parent === null) return fail({ reason: 'unsafe', path: record.path });
      const target = join(parent, posix.basename(record.path));
      switch (record.type) {
        case 'dir': {
          const existing = lstatOrNull(target);
          if (existing && !existing.isDirectory()) rmSync(target);
          if (!existing?.isDirectory()) mkdirSync(target, { mode: 0o700 });
          dirModes.push([target, safeMode(record.mode)]);
          break;
        }
        case 'file': {
          const bad = await copyBlobTo(blobs, record.blob, target, record.mode, tag);
          if (bad) return fail(bad);
          break;
        }
        case 'symlink': {
          const temp = tempSibling(target, tag);
          symlinkSync(record.target, temp);
          try {
            renameSync(temp, target);
          } catch (err) {
            rmSync(temp, { force: true });
            throw err;
          }
          break;
        }
      }
    }
    for (const [dir, mode] of dirModes.reverse()) chmodSync(dir, mode);
  } catch (err) {
    return fail({ reason: 'failed', detail: (err as Error).message });
  }
  return ok(undefined);
}

// The first record that may not be written: outside the declared outputs,
// beneath a recorded symlink (a capture never follows one, so such a
// manifest was forged), or under a directory of the tree that resolves
// outside it.
function findUnsafeRecord(
  root: string,
  cwd: string,
  declared: readonly string[],
  records: readonly OutputRecord[],
): string | undefined {
  const symlinks = new Set(records.filter((r) => r.type === 'symlink').map((r) => r.path));
  for (const record of records) {
    if (!isSafeOutputPath(record.path, declared)) return record.path;
    const parts = record.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (symlinks.has(parts.slice(0, i).join('/'))) return record.path;
    }
    if (!resolvesInside(root, dirname(join(cwd, record.path)))) return record.path;
  }
  return undefined;
}

// Whether the nearest existing ancestor of `path` (or path itself) resolves
// inside `root`. A dangling or looping symlink does not.
function resolvesInside(root: string, path: string): boolean {
  let existing = path;
  while (lstatOrNull(existing) === null) existing = dirname(existing);
  try {
    return isInside(root, realpathSync(existing));
  } catch {
    return false;
  }
}

function isInside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
}

// Copies a blob into a temp file beside `target`, checking its size and
// hash, then renames it into place. Returns the problem if the blob is bad.
//
// The kernel copies the file (copy_file_range or sendfile where there is
// one, as cp does) on libuv's thread pool while this thread hashes the open
// blob: the copy and the hash run side by side instead of one read, hash
// and write after another. The copy goes by path and the hash by
// descriptor; a published blob is never written in place, only replaced by
// a rename, so both read the same bytes if the path names the descriptor's
// file before and after the copy. If it does not (a gc or a new recording
// moved it meanwhile), the copy is made again from the descriptor itself.
async function copyBlobTo(blobs: BlobSource, blob: BlobRef, target: string, mode: number, tag: string): Promise<RestoreProblem | null> {
  const source = blobs.fd(blob.hash);
  const path = blobs.path(blob.hash);
  const temp = tempSibling(target, tag);
  let renamed = false;
  try {
    const sameFile = () => isSameFile(fstatSync(source), statOrNull(path));
    let copied: { hash: BlobHash; size: number } | null = null;
    if (sameFile()) {
      const copying = copyFile(path, temp, constants.COPYFILE_EXCL).then(
        () => null,
        (err: unknown) => err,
      );
      let hashed: { hash: BlobHash; size: number } | null = null;
      let failed: unknown = null;
      try {
        hashed = hashOpenFile(source);
      } finally {
        // the copy settles before its temp file may be removed
        failed = await copying;
      }
      // A copy that failed (the path removed by gc as it opened) is made
      // again from the descriptor, below, as one whose file changed is.
      if (failed === null && sameFile() && statSync(temp).size === hashed.size) copied = hashed;
      else rmSync(temp, { force: true });
    }
    if (copied === null) copied = copyFromDescriptor(source, temp);
    if (copied.size !== blob.size || copied.hash !== blob.hash) {
      return { reason: 'bad-blob', hash: blob.hash, detail: `blob ${displayHash(blob.hash)} does not match its hash` };
    }
    chmodSync(temp, safeMode(mode));
    renameSync(temp, target);
    renamed = true;
    return null;
  } finally {
    if (!renamed) rmSync(temp, { force: true });
  }
}

// One copy through this process, hashing the bytes on the way.
function copyFromDescriptor(source: number, temp: string): { hash: BlobHash; size: number } {
  const out = openSync(temp, 'wx', 0o600);
  try {
    return copyAndHash(source, out);
  } finally {
    closeSync(out);
  }
}

function isSameFile(open: { dev: number; ino: number }, named: { dev: number; ino: number } | null): boolean {
  return named !== null && named.dev === open.dev && named.ino === open.ino;
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

let tempCounter = 0;

function tempSibling(target: string, tag: string): string {
  tempCounter += 1;
  return join(dirname(target), `.${posix.basename(target)}.dcache-${tag}-${tempCounter}.tmp`);
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
