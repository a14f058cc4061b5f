import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

// The owner and mode rules of a cache directory, for every folder dcache
// uses in it and every manifest and blob it reads: what another user owns,
// or could have written (group or others may write), is not trusted. A
// cache's bytes are replayed as if the user's own command had printed
// them, and restored as files the user's next steps will run or read.

// Which version of a file this is: a file replaced by a rename (a new
// entry published) has another inode, one rewritten in place another mtime
// or size. Compared, never parsed.
export function stampOf(st: Stats): string {
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}

// Why `st` (of `what`, for the message) is not to be trusted, or null. No
// uid (a platform without them): only the mode is looked at.
export function distrustOf(st: Stats, uid: number | null, what: string): string | null {
  if (uid !== null && st.uid !== uid) return `${what} belongs to another user (uid ${st.uid})`;
  if ((st.mode & 0o022) !== 0) return `others may write to ${what} (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')})`;
  return null;
}

// Why the directory at `path` may not be used, or null; 'absent' if there
// is none. A symlink is refused: nothing under a cache directory is reached
// through a link (dcache removes files there, and would remove them
// elsewhere).
export function distrustDir(path: string, uid: number | null): string | null | 'absent' {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
    throw err;
  }
  if (st.isSymbolicLink()) return `${path} is a symlink, and dcache follows no link inside its cache directory; remove it`;
  if (!st.isDirectory()) return `${path} is not a directory; remove it`;
  return distrustOf(st, uid, path);
}

export type OpenedFile = { status: 'open'; fd: number; size: number; stamp: string } | { status: 'absent' } | { status: 'distrusted'; detail: string };

// O_NOFOLLOW where the platform has it: a link planted at a file's name is
// refused by the kernel instead of followed.
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

// Opens a regular file of the cache for reading, if it may be trusted. An
// I/O error other than absence is thrown.
export function openTrusted(path: string, uid: number | null): OpenedFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | NO_FOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'absent' };
    if (code === 'ELOOP') return { status: 'distrusted', detail: `${path} is a symlink` };
    throw err;
  }
  try {
    const st = fstatSync(fd);
    const problem = st.isFile() ? distrustOf(st, uid, path) : `${path} is not a file`;
    if (problem === null) return { status: 'open', fd, size: st.size, stamp: stampOf(st) };
    closeSync(fd);
    return { status: 'distrusted', detail: problem };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

// openTrusted of a file whose folder must be trusted too (a blob, a check
// mark): a folder another user could write to is refused before the file
// is opened, and a missing folder is a missing file.
export function openTrustedInFolder(path: string, uid: number | null): OpenedFile {
  const folder = distrustDir(dirname(path), uid);
  if (folder === 'absent') return { status: 'absent' };
  if (folder !== null) return { status: 'distrusted', detail: folder };
  return openTrusted(path, uid);
}

export type ReadFile = { status: 'read'; bytes: Buffer; stamp: string } | { status: 'absent' } | { status: 'distrusted'; detail: string } | { status: 'too-large'; size: number };

// A small trusted file's bytes (a manifest), read through one descriptor:
// what is judged is what is read. Longer than `maxBytes`: not read.
export function readTrusted(path: string, uid: number | null, maxBytes: number): ReadFile {
  const opened = openTrusted(path, uid);
  if (opened.status !== 'open') return opened;
  try {
    if (opened.size > maxBytes) return { status: 'too-large', size: opened.size };
    const buffer = Buffer.allocUnsafe(opened.size);
    let filled = 0;
    while (filled < buffer.length) {
      const n = readSync(opened.fd, buffer, filled, buffer.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return { status: 'read', bytes: buffer.subarray(0, filled), stamp: opened.stamp };
  } finally {
    closeSync(opened.fd);
  }
}
