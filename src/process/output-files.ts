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
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import { displayHash, type BlobHash } from '../core/hash.js';
import type { BlobRef, OutputRecord } from '../schema/output-record.js';
import { safeMode } from '../schema/output-record.js';
import { copyAndHash, hashOpenFile } from '../store/local/file-copy.js';
import { TreeView } from './tree-links.js';
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
  // the manifest names a path outside the declared outputs or the tree, or
  // a link that leads out of it; `detail` says how, as what the path does
  // ("is a symlink to '..', which leads out of the working directory")
  | { reason: 'unsafe'; path: string; detail?: string }
  // a stored blob is not what the manifest says
  | { reason: 'bad-blob'; hash: BlobHash; detail: string }
  // the file system refused (a directory where a file goes, permissions...)
  | { reason: 'failed'; detail: string };

// The blobs of the entry being restored, already open (see OpenBlobs), and
// where each is stored.
export interface BlobSource {
  fd(hash: BlobHash): number;
  path(hash: BlobHash): string;
  checked(hash: BlobHash): boolean;
  noteChecked(hash: BlobHash): void;
}

// How far an entry is trusted. One recorded here restores what the command
// made (a venv's links to /usr/bin/python3 included); one that came from a
// remote may plant no link that leads out of the working directory, and
// its modes pass through the user's umask, as tar restores an archive for a
// user who is not root.
export interface RestoreTrust {
  confineLinks: boolean;
  // bits cleared from every restored mode (setuid and setgid always are)
  modeMask: number;
}

const LOCAL_TRUST: RestoreTrust = { confineLinks: false, modeMask: 0 };

// Restores every output. Every record is judged before anything is written
// (see placeRecords), so a refused entry leaves the tree as it was. Then
// files and directories are written in order, each file to a temp name in
// its folder and renamed into place, so no reader sees half a file; each
// folder is reached one component at a time from the working directory,
// each checked to be a real directory, never by a path through a link that
// the entry made: the entry's links are made last.
export async function restoreOutputs(
  blobs: BlobSource,
  cwd: string,
  declared: readonly string[],
  records: readonly OutputRecord[],
  tag: string,
  trust: RestoreTrust = LOCAL_TRUST,
): Promise<Result<void, RestoreProblem>> {
  let root: string;
  try {
    root = realpathSync(cwd);
  } catch (err) {
    return fail({ reason: 'failed', detail: (err as Error).message });
  }
  let placed: Placed[];
  try {
    const placing = placeRecords(root, declared, records, trust.confineLinks);
    if (!placing.ok) return placing;
    placed = placing.value;
  } catch (err) {
    return fail({ reason: 'failed', detail: (err as Error).message });
  }
  // Directory modes are applied last, deepest first, so that a read-only
  // directory does not stop its own files from being restored.
  const dirModes: Array<[string, number]> = [];
  const mode = (recorded: number) => safeMode(recorded) & ~trust.modeMask;
  const links = placed.filter((p) => p.record.type === 'symlink');
  try {
    for (const { record, parent, name } of [...placed.filter((p) => p.record.type !== 'symlink'), ...links]) {
      const folder = reachFolder(root, parent);
      if (folder === null) return fail({ reason: 'unsafe', path: record.path, detail: 'has a folder that changed during the restore' });
      const target = join(folder, name);
      switch (record.type) {
        case 'dir': {
          const existing = lstatOrNull(target);
          if (existing && !existing.isDirectory()) rmSync(target);
          if (!existing?.isDirectory()) mkdirSync(target, { mode: 0o700 });
          dirModes.push([target, mode(record.mode)]);
          break;
        }
        case 'file': {
          const bad = await copyBlobTo(blobs, record.blob, target, mode(record.mode), tag);
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
    for (const [dir, dirMode] of dirModes.reverse()) chmodSync(dir, dirMode);
  } catch (err) {
    return fail({ reason: 'failed', detail: (err as Error).message });
  }
  return ok(undefined);
}

// A record and where it goes: its folder (components below the working
// directory, every one a directory once the entry is in place) and name.
interface Placed {
  record: OutputRecord;
  parent: string[];
  name: string;
}

// Judges every record before anything is written, as the tree will be with
// the entry in place (TreeView): each must be inside the declared outputs;
// its folder must resolve inside the working directory, through the links
// of the tree (an output path may go through one that stays inside); no
// record may sit beneath a link or a file of the entry (a capture never
// follows one, so such a manifest was forged), or at a place another
// record takes. With `confineLinks`, each link of the entry must resolve
// inside the working directory once all are in place.
function placeRecords(root: string, declared: readonly string[], records: readonly OutputRecord[], confineLinks: boolean): Result<Placed[], RestoreProblem> {
  const unsafe = (record: OutputRecord, detail?: string) => fail<RestoreProblem>({ reason: 'unsafe', path: record.path, ...(detail ? { detail } : {}) });
  const view = new TreeView(root);
  const placed: Placed[] = [];
  const taken = new Map<string, OutputRecord>();
  for (const record of records) {
    if (!isSafeOutputPath(record.path, declared)) return unsafe(record);
    const parts = record.path.split('/');
    const name = parts.pop()!;
    const folder = view.resolve([], parts.join('/'), true);
    if (!folder.ok) return unsafe(record, `has a folder that ${folder.why === 'loops' ? 'is a loop of symlinks' : 'leads out of the working directory'}`);
    // (beneath a link or a file of the entry: a capture never writes there)
    const beneath = folder.at.map((_, i) => taken.get(folder.at.slice(0, i + 1).join('/'))).find((r) => r !== undefined && r.type !== 'dir');
    if (beneath !== undefined) return unsafe(record, `lies beneath the entry's ${beneath.type} '${beneath.path}'`);
    if (folder.viaEntry) return unsafe(record, 'lies beneath a symlink of the entry');
    const folderNode = folder.at.length === 0 ? null : view.lookup(folder.at);
    if (folder.viaFile || (folderNode !== null && folderNode.type !== 'dir')) return unsafe(record, 'has a folder that is not a directory');
    const at = [...folder.at, name].join('/');
    if (taken.has(at)) return unsafe(record, `goes where the entry's '${taken.get(at)!.path}' goes too`);
    taken.set(at, record);
    view.place(at, record);
    placed.push({ record, parent: folder.at, name });
  }
  if (confineLinks) {
    for (const { record, parent } of placed) {
      if (record.type !== 'symlink') continue;
      const leads = view.resolve(parent, record.target, true);
      if (!leads.ok) {
        return unsafe(record, `is a symlink to '${record.target}', which ${leads.why === 'loops' ? 'is a loop of symlinks' : 'leads out of the working directory'}`);
      }
    }
  }
  return ok(placed);
}

// The folder `parts` below `root`, reached one component at a time: each
// one that exists must be a real directory (a link there would mean the
// tree changed since it was judged), and each missing one is made. Null if
// one is not a directory.
function reachFolder(root: string, parts: readonly string[]): string | null {
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    const st = lstatOrNull(path);
    if (st === null) mkdirSync(path, { mode: 0o755 });
    else if (!st.isDirectory()) return null;
  }
  return path;
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
    // a blob checked as its file is now (see BlobSource.checked) is copied,
    // not hashed again, if it is still that file once the copy is made
    const trusted = blobs.checked(blob.hash);
    if (sameFile()) {
      const copying = copyFile(path, temp, constants.COPYFILE_EXCL).then(
        () => null,
        (err: unknown) => err,
      );
      let hashed: { hash: BlobHash; size: number } | null = null;
      let failed: unknown = null;
      try {
        hashed = trusted ? { hash: blob.hash, size: fstatSync(source).size } : hashOpenFile(source);
      } finally {
        // the copy settles before its temp file may be removed
        failed = await copying;
      }
      // A copy that failed (the path removed by gc as it opened) is made
      // again from the descriptor, below, as one whose file changed is.
      if (failed === null && sameFile() && (!trusted || blobs.checked(blob.hash)) && statSync(temp).size === hashed.size) copied = hashed;
      else rmSync(temp, { force: true });
    }
    if (copied === null) copied = copyFromDescriptor(source, temp);
    if (copied.size !== blob.size || copied.hash !== blob.hash) {
      return { reason: 'bad-blob', hash: blob.hash, detail: `blob ${displayHash(blob.hash)} does not match its hash` };
    }
    blobs.noteChecked(blob.hash);
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
