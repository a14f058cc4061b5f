// The chunks read from a command's pipes, or from a download, are garbage
// once they are written out, but their bytes are freed only when V8
// collects the small objects that hold them, and it waits for tens of megabytes of them first (about
// 32 MB on Node 20, 64 MB on Node 24, which put recording 200 MB at a peak
// of 93 and 136 MB). A young-generation collection (a scavenge: the chunks
// are young, and it takes about a millisecond) every RECLAIM_EVERY bytes
// passed keeps that pile small on every Node line.

export const RECLAIM_EVERY = 8 << 20;

type Collect = (options: { type: 'minor' }) => void;
let collect: Collect | null | undefined;

// A counter of the bytes passed that collects the young generation every
// `every` bytes; where V8's gc cannot be reached, it does nothing.
export function reclaimer(every = RECLAIM_EVERY): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < every) return;
    since = 0;
    collect ??= loadCollect();
    collect?.({ type: 'minor' });
  };
}

// The process's one counter: every stream of chunks (a command's stdout and
// stderr, downloads) adds to it, so that 8 MiB passed by any of them ends
// in a collection.
export const reclaim = reclaimer();

// V8's gc() without --expose-gc on the command line: the flag set at run
// time, and the function read from a fresh context, where V8 then puts it.
function loadCollect(): Collect | null {
  try {
    const v8 = process.getBuiltinModule('node:v8') as typeof import('node:v8');
    const vm = process.getBuiltinModule('node:vm') as typeof import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as Collect) : null;
  } catch {
    return null;
  }
}
