import { createHash } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import type { EntryContent, Production, Recipe, Replayed } from '../engine/get-or-record.js';
import type { Reporter } from '../ports/reporter.js';
import type { OpenBlobs } from '../ports/tiers.js';
import { describeError } from '../core/errors.js';
import { displayHash, type BlobHash } from '../core/hash.js';
import type { BlobRef, Manifest } from '../schema/manifest.js';
import type { LocalStore } from '../store/local/local-store.js';
import { ACCEPTED, unstorable } from './arguments.js';
import { storeThrown } from './thrown.js';
import type { ErrorClass } from './types.js';
import { decodeValue, encodeThrown, encodeValue } from './value.js';

// How a function's value is produced and replayed through the engine: the
// value is the blob where a command's stdout would be.

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

// What a call through the engine gave: a value (or what was thrown),
// replayed or produced; or, for entry(), the entry found, its value unread.
export type Answer = { kind: 'outcome'; outcome: Outcome } | { kind: 'entry'; manifest: Manifest };

export interface FunctionWork {
  name: string;
  fn: (...args: never[]) => unknown;
  self: unknown;
  args: unknown[];
  store: LocalStore;
  reporter: Reporter;
  cacheErrors: boolean;
  classes: ReadonlyMap<string, ErrorClass>;
}

export async function run(fn: (...args: never[]) => unknown, self: unknown, args: unknown[]): Promise<Outcome> {
  try {
    return { ok: true, value: await fn.apply(self, args as never[]) };
  } catch (error) {
    return { ok: false, error };
  }
}

export class FunctionRecipe implements Recipe<Answer> {
  readonly label: string;
  // the blob this recipe's production was written to, if it was
  written: BlobRef | null = null;

  // `unread`: a stored entry is answered as itself, its value not read
  constructor(
    private readonly work: FunctionWork,
    private readonly unread = false,
  ) {
    this.label = `${work.name}()`;
  }

  async replay(entry: Manifest, blobs: OpenBlobs): Promise<Replayed<Answer>> {
    if (this.unread) return { kind: 'done', result: { kind: 'entry', manifest: entry } };
    const replayed = replayValue(entry, blobs, this.work.classes);
    return replayed.kind === 'done' ? { kind: 'done', result: { kind: 'outcome', outcome: replayed.result } } : replayed;
  }

  async produce(record: boolean): Promise<Production<Answer>> {
    const { fn, self, args } = this.work;
    const outcome = await run(fn, self, args);
    return {
      result: { kind: 'outcome', outcome },
      failed: outcome.ok ? null : `threw ${describeThrown(outcome.error)}`,
      discard: async () => {},
      keep: async () => (record ? this.keep(outcome) : null),
      // what it threw, for the concurrent callers that waited for this call
      keepFailure: async () => (record && !outcome.ok ? this.keep(outcome, true) : null),
    };
  }

  // `forWaiters`: a thrown error kept for the callers that waited, not as an entry
  private keep(outcome: Outcome, forWaiters = false): EntryContent | null {
    const { name, reporter, store } = this.work;
    if (!outcome.ok && !this.work.cacheErrors && !forWaiters) return null;
    let pieces: Buffer[];
    if (outcome.ok) {
      const bad = unstorable(outcome.value);
      if (bad !== null) {
        reporter.warnOnce(`unstorable:${name}`, `${name}(): the result is not cached: ${bad}; a cached result may hold ${ACCEPTED}`);
        return null;
      }
      pieces = encodeValue(outcome.value);
    } else {
      const stored = storeThrown(outcome.error);
      if ('unstorable' in stored) {
        reporter.warnOnce(`unstorable:${name}`, `${name}(): what it threw is not cached: ${stored.unstorable}; a cached error may hold ${ACCEPTED}`);
        return null;
      }
      if (stored.left.length > 0) reporter.warnOnce(`left:${name}`, `${name}(): kept what it threw without ${stored.left.join(', ')}`);
      pieces = encodeThrown(stored.stored);
    }
    try {
      const blob = writeBlob(store, pieces);
      if (!forWaiters) this.written = blob;
      return { exitCode: outcome.ok ? 0 : 1, stdout: blob, stderr: null, order: null, outputs: [] };
    } catch (err) {
      reporter.warnOnce('cache', `the result of ${name}() was not recorded (${describeError(err)})`);
      return null;
    }
  }
}

function describeThrown(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

// The value an entry holds, from its blob already open: read whole (into
// memory of its own, so that a typed array can be a view of it), checked
// against its hash, and decoded.
export function replayValue(entry: Manifest, blobs: OpenBlobs, classes: ReadonlyMap<string, ErrorClass>): Replayed<Outcome> {
  const ref = entry.stdout;
  if (ref === null) return { kind: 'unusable', warning: 'dropped a bad cache entry (it holds no value); calling the function', drop: true, badBlob: null };
  const fd = blobs.fd(ref.hash);
  const size = fstatSync(fd).size;
  const bytes = Buffer.allocUnsafeSlow(size);
  for (let off = 0; off < size; ) {
    const n = readSync(fd, bytes, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  const hash = createHash('sha256').update(bytes).digest('hex');
  if (size !== ref.size || hash !== ref.hash) {
    return { kind: 'unusable', warning: `dropped a bad cache entry (blob ${displayHash(ref.hash)} does not match its hash); calling the function`, drop: true, badBlob: ref.hash };
  }
  try {
    const decoded = decodeValue(bytes, classes);
    return { kind: 'done', result: decoded.thrown ? { ok: false, error: decoded.error } : { ok: true, value: decoded.value } };
  } catch (err) {
    return { kind: 'unusable', warning: `dropped a bad cache entry (${describeError(err)}); calling the function`, drop: true, badBlob: ref.hash };
  }
}

// Writes the pieces of a value into the store as one blob, hashing them on
// the way; the pieces are written as they are (a large Buffer is not copied).
function writeBlob(store: LocalStore, pieces: Buffer[]): { hash: BlobHash; size: number } {
  store.prepare();
  const tempPath = store.tempPath();
  const fd = openSync(tempPath, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for (const piece of pieces) {
      hash.update(piece);
      for (let off = 0; off < piece.length; ) off += writeSync(fd, piece, off, piece.length - off);
      size += piece.length;
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tempPath, { force: true });
    throw err;
  }
  closeSync(fd);
  return store.publishBlob({ tempPath, hash: hash.digest('hex') as BlobHash, size });
}
