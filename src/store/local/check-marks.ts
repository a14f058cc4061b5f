import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync, type BigIntStats } from 'node:fs';
import { dirname, join } from 'node:path';
import { openTrustedInFolder } from './ownership.js';
import { makeDirs } from './make-dirs.js';

// Which local blobs need not be hashed again on a hit. Hashing a blob on
// every hit costs a large hit most of its time (256 MiB: about 0.2 s of
// SHA-256 against 0.1 s for `cat | cat`) and a small one the loading of
// node:crypto. So once a hit has checked a blob against its hash, it leaves
// a mark: the blob file's identity and times as they were when it was opened
// for that check (device, inode, size, mtime, ctime, in nanoseconds). A
// later hit that finds the open blob the same replays it unhashed.
//
// The rule that matters: a blob that changed since its check is never
// replayed unhashed. Any write to a file, a truncation or an extension sets
// its ctime to the file system's clock, and userspace cannot set a ctime
// back (`touch -r` puts back mtime, not ctime); a blob replaced by a rename
// is another inode. One case remains: a change in the same tick of the
// file system's clock as the last change before the check leaves the ctime
// as it was. So a mark counts only if the blob's ctime is older than the
// mark's own mtime, both read from the same file system's clock (git's
// "racily clean" rule): the mark is written after the check, so any change
// made after the stat it holds has a ctime at least the mark's mtime, and
// the stat differs or the mark does not count.
//
// What this does not see: bytes that change without a write through the
// kernel (a failing disk) or a clock set back by the administrator. So a
// mark lasts MARK_LIFETIME_MS: a blob is hashed again at its first hit
// after that, and marked anew, which bounds how long a disk's silent damage
// can be replayed. Blobs from a remote are always hashed (they are written
// here, and checked, by the pull that brings them).

export interface FileStamp {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

const MARK_VERSION = 1;
// how long a check holds (see above)
export const MARK_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
// a mark is a line of decimal numbers: bounded well below this
const MARK_MAX_BYTES = 256;

// How long ago a blob's last change must be for its check to be marked: a
// blob changed since its last change but within the same tick of the file
// system's clock keeps its ctime, so a change after the stamp, made while
// the bytes were hashed, would go unseen. Marked only is a blob whose last
// change is this much older than the stamp, so that any later change has
// another ctime, however coarse the clock (FAT's 2 s).
const SETTLED_NS = 3_000_000_000n;

// Whether a blob stamped `stamp` at `stampedAtNs` (the wall clock, in ns)
// may be marked once its bytes are found right.
export function settledAt(stamp: FileStamp, stampedAtNs: bigint): boolean {
  return stamp.ctimeNs <= stampedAtNs - SETTLED_NS;
}

export function stampOfOpen(fd: number): FileStamp {
  const st: BigIntStats = fstatSync(fd, { bigint: true });
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

// Whether the mark at `markPath` says that the blob whose open file has
// `stamp` was checked as it is now. Any doubt (no mark, one another user
// could have written, garbled, racy) is a no: the blob is hashed.
export function isCheckedAsIs(markPath: string, stamp: FileStamp, uid: number | null): boolean {
  try {
    const opened = openTrustedInFolder(markPath, uid);
    if (opened.status !== 'open') return false;
    try {
      if (opened.size > MARK_MAX_BYTES) return false;
      const bytes = Buffer.alloc(opened.size);
      if (readSync(opened.fd, bytes, 0, bytes.length, 0) !== bytes.length) return false;
      const marked = parseMark(bytes.toString('latin1'));
      const markMtimeNs = fstatSync(opened.fd, { bigint: true }).mtimeNs;
      const expired = BigInt(Date.now()) * 1_000_000n - markMtimeNs > BigInt(MARK_LIFETIME_MS) * 1_000_000n;
      return marked !== null && sameStamp(marked, stamp) && stamp.ctimeNs < markMtimeNs && !expired;
    } finally {
      closeSync(opened.fd);
    }
  } catch {
    return false;
  }
}

function parseMark(text: string): FileStamp | null {
  const m = /^v(\d+) (\d{1,20}) (\d{1,20}) (\d{1,20}) (\d{1,25}) (\d{1,25})\n$/.exec(text);
  if (m === null || Number(m[1]) !== MARK_VERSION) return null;
  return { dev: BigInt(m[2]!), ino: BigInt(m[3]!), size: BigInt(m[4]!), mtimeNs: BigInt(m[5]!), ctimeNs: BigInt(m[6]!) };
}

// Leaves the mark of a blob checked against its hash as it was when opened
// (`stamp`, taken before its bytes were read): written whole (a temp file,
// renamed) or not at all. Never fails: without a mark, the next hit hashes.
export function markChecked(markPath: string, stamp: FileStamp, tag: string): void {
  const temp = `${markPath}.${tag}.tmp`;
  try {
    makeDirs(dirname(markPath), 0o700);
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `v${MARK_VERSION} ${stamp.dev} ${stamp.ino} ${stamp.size} ${stamp.mtimeNs} ${stamp.ctimeNs}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, markPath);
  } catch {
    dropMark(temp);
  }
}

// Where the mark of the blob `hash` of the cache directory `root` is.
export function checkMarkPath(root: string, hash: string): string {
  return join(root, 'checked', hash.slice(0, 2), hash);
}

// Removes a blob's mark (the blob is removed, or found bad).
export function dropMark(markPath: string): void {
  try {
    rmSync(markPath, { force: true });
  } catch {
    // a mark left behind names a file that is gone: it matches no other
  }
}
