import { lstatSync, readlinkSync } from 'node:fs';
import type { OutputRecord } from '../schema/output-record.js';

// Where a path of the working tree leads, judged as the kernel resolves it
// once an entry's records are in place: each component looked up in turn,
// symlinks followed (the entry's own, and those already in the tree), '..'
// taken from where the resolution is, not from the text. A resolution that
// leaves the working directory at any step fails (openat2's
// RESOLVE_BENEATH), so the verdict never depends on what lies outside it,
// and an absolute target leaves it at once. Judging text instead
// (normalising 'b/../..' after 'b -> .') is what a chain of two links
// defeats.

// Symlinks followed in one resolution before giving up, as Linux's ELOOP.
const MAX_LINKS = 40;

export type Resolution =
  // where the path leads: components below the root ([] is the root); a
  // dangling tail counts as the folders it names. `viaEntry`: a link of
  // the entry was followed on the way; `viaFile`: the way went through a
  // file as if it were a folder.
  | { ok: true; at: string[]; viaEntry: boolean; viaFile: boolean }
  | { ok: false; why: 'leaves' | 'loops' };

type Node = { type: 'dir' | 'file' } | { type: 'link'; target: string } | null;

// The working tree as it will be once an entry's records are restored: each
// record replaces what stands where it goes; a directory record over
// something that is not a directory starts empty; everything else is the
// real tree.
export class TreeView {
  // by where each goes (components below the root, joined by '/'), which
  // is its path unless a folder of it is a link of the tree
  private readonly records = new Map<string, OutputRecord>();
  private readonly real = new Map<string, Node>();

  constructor(
    // the working directory, as realpath gives it
    private readonly root: string,
  ) {}

  // Puts a record where it goes (see placeRecords).
  place(at: string, record: OutputRecord): void {
    this.records.set(at, record);
  }

  // What stands at `parts` (below the root) once the records are in place.
  lookup(parts: readonly string[]): Node {
    // the nearest record at or above the path decides what the real tree
    // still shows beneath it
    for (let i = parts.length; i >= 1; i--) {
      const record = this.records.get(parts.slice(0, i).join('/'));
      if (record === undefined) continue;
      if (i === parts.length) return record.type === 'symlink' ? { type: 'link', target: record.target } : { type: record.type };
      // beneath a file or a link of the entry there is nothing (a restore
      // refuses such records); beneath a directory of the entry, what the
      // real tree holds there if it is a real directory
      if (record.type !== 'dir' || this.realNode(parts.slice(0, i))?.type !== 'dir') return null;
      break;
    }
    return this.realNode(parts);
  }

  // Resolves `target` from the folder `from` (below the root). `follow`:
  // a link at the last component is followed too (as open() does; mkdir and
  // rename do not).
  resolve(from: readonly string[], target: string, follow: boolean): Resolution {
    let at = [...from];
    let pending = splitPath(target);
    if (target.startsWith('/')) {
      if (this.root !== '/') return { ok: false, why: 'leaves' };
      at = [];
    }
    let links = 0;
    let viaEntry = false;
    let viaFile = false;
    while (pending.length > 0) {
      const name = pending.shift()!;
      if (name === '.') continue;
      if (name === '..') {
        if (at.length === 0) return { ok: false, why: 'leaves' };
        at.pop();
        continue;
      }
      const next = [...at, name];
      const node = this.lookup(next);
      // A missing folder counts as the one mkdir -p would make (records of
      // the entry beneath it are still looked up). So does a file on the
      // way: a path through it leads nowhere now (ENOTDIR), but it may be a
      // folder tomorrow (the command's next run makes it one).
      if (node === null || (node.type === 'file' && pending.length > 0)) {
        if (node !== null) viaFile = true;
        at = next;
        continue;
      }
      if (node.type === 'link' && (pending.length > 0 || follow)) {
        if (++links > MAX_LINKS) return { ok: false, why: 'loops' };
        if (this.records.has(next.join('/'))) viaEntry = true;
        if (node.target.startsWith('/')) {
          if (this.root !== '/') return { ok: false, why: 'leaves' };
          at = [];
        }
        pending = [...splitPath(node.target), ...pending];
        continue;
      }
      at = next;
    }
    return { ok: true, at, viaEntry, viaFile };
  }

  private realNode(parts: readonly string[]): Node {
    const key = parts.join('/');
    let node = this.real.get(key);
    if (node !== undefined) return node;
    const path = this.root === '/' ? `/${key}` : `${this.root}/${key}`;
    try {
      const st = lstatSync(path);
      node = st.isSymbolicLink() ? { type: 'link', target: readlinkSync(path) } : { type: st.isDirectory() ? 'dir' : 'file' };
    } catch {
      node = null;
    }
    this.real.set(key, node);
    return node;
  }
}

// The components of a path, empty ones dropped ('a//b/' is a, b).
export function splitPath(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}
