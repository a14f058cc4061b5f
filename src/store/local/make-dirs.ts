import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

// `mkdir -p` with a bounded number of steps. Node's own recursive mkdir
// loops forever where a parent exists but cannot hold a child (under
// /proc/self, mkdir answers ENOENT for the child and EEXIST for the
// parent); here each missing folder is made once, deepest last, and any
// refusal is an error naming the folder.
//
// Returns the first folder it made, or undefined if `path` was there.
export function makeDirs(path: string, mode: number): string | undefined {
  const missing: string[] = [];
  let at = resolve(path);
  // one step per component of the path: a walk up ends at '/'
  for (;;) {
    if (isDirectory(at)) break;
    missing.push(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  let first: string | undefined;
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, { mode });
      first ??= dir;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // made meanwhile by another process: fine if it is a folder
      if (code === 'EEXIST' && isDirectory(dir)) continue;
      if (code === 'ENOENT' || code === 'EEXIST') {
        throw Object.assign(new Error(`cannot create the folder ${dir} (${code === 'ENOENT' ? 'its parent cannot hold it' : 'something else is there'})`), { code });
      }
      throw err;
    }
  }
  return first;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}
