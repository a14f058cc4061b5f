import { createHash } from 'node:crypto';
import { chmodSync, closeSync, ftruncateSync, readFileSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BlobHash } from '../../../../src/core/hash.js';
import type { Manifest } from '../../../../src/schema/manifest.js';
import { BlobFiles } from '../../../../src/store/local/blob-files.js';
import { MARK_LIFETIME_MS } from '../../../../src/store/local/check-marks.js';
import { LocalStore } from '../../../../src/store/local/local-store.js';
import { testHost } from '../../../support/host.js';

// A blob checked once is replayed without hashing it again only while its
// file is as it was checked (src/store/local/check-marks.ts). The rule that
// matters: a blob that changed on disk since is never taken as checked, so
// it is hashed, and its new bytes found bad.

let root: string;
let store: LocalStore;
let round = 0;

// A check is marked only for a blob whose last change is 3 s older than the
// check (blob-files.ts, SETTLED_NS): the clock the checks read is put 10 s
// ahead, so that the blobs written here are old enough; the file system's
// own times are left as they are.
const AHEAD_MS = 10_000;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'dcache-check-marks-'));
  store = new LocalStore(join(root, 'cache'), testHost());
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + AHEAD_MS);
});
afterAll(() => {
  vi.useRealTimers();
  rmSync(root, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex') as BlobHash;
// sleeps past the file system clock's tick (a coarse clock moves every few ms)
const pause = (ms = 15) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

// Stores `bytes` as a blob the way a recording leaves one; returns its hash.
function storeBlob(bytes: Uint8Array): { hash: BlobHash; path: string; manifest: Manifest } {
  // a blob of its own each round: the same bytes twice would share a path
  const salted = Buffer.concat([Buffer.from(`${(round += 1)}:`), bytes]);
  const hash = sha256(salted);
  const path = store.blobPath(hash);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, salted, { mode: 0o600 });
  const manifest = { stdout: { hash, size: salted.length }, stderr: null, order: null, outputs: [] } as unknown as Manifest;
  return { hash, path, manifest };
}

function open(manifest: Manifest): BlobFiles {
  const files = store.openBlobs(manifest);
  if (!(files instanceof BlobFiles)) throw new Error(files.detail);
  return files;
}

// Stores a blob, has a hit check it and leave its mark, and shows that the
// next open takes it as checked.
function checkedBlob(bytes: Uint8Array) {
  const blob = storeBlob(bytes);
  pause();
  const first = open(blob.manifest);
  expect(first.checked(blob.hash)).toBe(false);
  first.noteChecked(blob.hash);
  first.close();
  const second = open(blob.manifest);
  expect(second.checked(blob.hash)).toBe(true);
  second.close();
  return blob;
}

type Change =
  | { kind: 'edit in place, mtime put back'; at: number; byte: number }
  | { kind: 'truncate'; to: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'replace by rename'; same: boolean }
  | { kind: 'same size, other bytes'; seed: number }
  | { kind: 'chmod and back' };

function apply(path: string, change: Change): void {
  const st = statSync(path);
  const size = st.size;
  switch (change.kind) {
    case 'edit in place, mtime put back': {
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.from([change.byte]), 0, 1, change.at % size);
      closeSync(fd);
      // as `touch -r`: the times as they were, to the nanosecond Node gives
      utimesSync(path, st.atime, st.mtime);
      return;
    }
    case 'truncate': {
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, change.to % size);
      closeSync(fd);
      utimesSync(path, st.atime, st.mtime);
      return;
    }
    case 'extend': {
      writeFileSync(path, change.extra, { flag: 'a' });
      utimesSync(path, st.atime, st.mtime);
      return;
    }
    case 'replace by rename':
    case 'same size, other bytes': {
      const bytes = Buffer.from(readFileSync(path));
      if (change.kind === 'same size, other bytes') bytes[change.seed % size]! ^= 1 + (change.seed % 255);
      else if (!change.same) bytes.reverse();
      const temp = `${path}.new`;
      writeFileSync(temp, bytes, { mode: 0o600 });
      utimesSync(temp, st.atime, st.mtime);
      renameSync(temp, path);
      return;
    }
    case 'chmod and back':
      chmodSync(path, 0o400);
      chmodSync(path, 0o600);
      return;
  }
}

const changes: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('edit in place, mtime put back' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), to: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('replace by rename' as const), same: fc.boolean() }),
  fc.record({ kind: fc.constant('same size, other bytes' as const), seed: fc.nat() }),
  fc.record({ kind: fc.constant('chmod and back' as const) }),
);

describe('a checked blob', () => {
  it('is never taken as checked once its file changed, whether the change came before it was opened or while it was open', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 4096 }), changes, fc.boolean(), (bytes, change, whileOpen) => {
        const blob = checkedBlob(bytes);
        const renamed = change.kind === 'replace by rename' || change.kind === 'same size, other bytes';
        let files: BlobFiles;
        if (whileOpen) {
          files = open(blob.manifest);
          apply(blob.path, change);
        } else {
          apply(blob.path, change);
          files = open(blob.manifest);
        }
        try {
          // what a replay would read, and then asks about (after reading)
          const read = readFileSync(`/proc/self/fd/${files.fd(blob.hash)}`);
          const checked = files.checked(blob.hash);
          // the rule: what is taken as checked is the checked bytes
          if (checked && sha256(read) !== blob.hash) return false;
          // and a file changed in place is never taken as checked (one
          // replaced by a rename while open is still read as it was)
          return renamed && whileOpen ? true : !checked;
        } finally {
          files.close();
        }
      }),
      { numRuns: 120, seed: 31 },
    );
  });

  it('edited in place with its mtime put back by touch -r is hashed again, and found bad', () => {
    const blob = checkedBlob(Buffer.from('the recorded bytes\n'));
    apply(blob.path, { kind: 'edit in place, mtime put back', at: 4, byte: 0x58 });
    const files = open(blob.manifest);
    expect(files.checked(blob.hash)).toBe(false);
    files.close();
    expect(sha256(readFileSync(blob.path))).not.toBe(blob.hash);
  });

  it('is not taken as checked by a mark written in the same tick of the clock as the blob’s last change', () => {
    const blob = storeBlob(Buffer.from('racy\n'));
    const files = open(blob.manifest);
    files.noteChecked(blob.hash);
    files.close();
    // the mark's mtime put back to the blob's ctime: a change in that tick
    // could have followed the check unseen
    // (whole milliseconds, rounded down: a Date of stat's rounds to the
    // nearest, which could put the mark just after the blob's change)
    const mark = store.checkMarkPath(blob.hash);
    const ctime = Math.floor(statSync(blob.path).ctimeMs) / 1000;
    utimesSync(mark, ctime, ctime);
    const again = open(blob.manifest);
    expect(again.checked(blob.hash)).toBe(false);
    again.close();
  });

  it('is not taken as checked by a garbled mark, or one that others may write', () => {
    const blob = checkedBlob(Buffer.from('marked\n'));
    const mark = store.checkMarkPath(blob.hash);
    chmodSync(mark, 0o666);
    const writable = open(blob.manifest);
    expect(writable.checked(blob.hash)).toBe(false);
    writable.close();
    writeFileSync(mark, 'v1 1 2 3\n', { mode: 0o600 });
    chmodSync(mark, 0o600);
    const garbled = open(blob.manifest);
    expect(garbled.checked(blob.hash)).toBe(false);
    garbled.close();
  });

  it('loses its mark when gc or a bad replay removes the blob', () => {
    const blob = checkedBlob(Buffer.from('dropped\n'));
    store.dropEntry(null, 'ffffffffffffffff' as never, blob.hash);
    expect(() => statSync(store.checkMarkPath(blob.hash))).toThrow();
  });
});

describe('a blob changed less than 3 s before its check', () => {
  it('is not marked: a change made while it is hashed, within the same tick of the clock as the last, could keep its ctime', () => {
    const blob = storeBlob(Buffer.from('fresh bytes\n'));
    // (the mark is then written ticks after the blob: only the 3 s rule refuses it)
    pause();
    // the check runs a second after the blob's last change
    vi.setSystemTime(statSync(blob.path).ctimeMs + 1_000);
    try {
      const first = open(blob.manifest);
      first.noteChecked(blob.hash);
      first.close();
      const second = open(blob.manifest);
      expect(second.checked(blob.hash)).toBe(false);
      second.close();
    } finally {
      vi.setSystemTime(Date.now() + AHEAD_MS);
    }
  });
});

describe('a mark older than its lifetime', () => {
  it('no longer counts: the blob is hashed again at its next hit (a disk that damages bytes unseen is caught within a week)', () => {
    const blob = checkedBlob(Buffer.from('kept a long time\n'));
    const now = Date.now();
    vi.setSystemTime(now + MARK_LIFETIME_MS + 60_000);
    try {
      const later = open(blob.manifest);
      expect(later.checked(blob.hash)).toBe(false);
      later.close();
    } finally {
      vi.setSystemTime(now);
    }
    const again = open(blob.manifest);
    expect(again.checked(blob.hash)).toBe(true);
    again.close();
  });
});
