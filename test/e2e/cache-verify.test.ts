import { chmodSync, closeSync, openSync, readFileSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { filesUnder, listedEntries } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import type { Sandbox } from '../support/sandbox.js';

// dcache verify hashes every blob again: what a hit skips for a blob it
// found right before while its file is unchanged (check marks), and what
// no write shows (a failing disk, a restore that kept the times).

const blobs = (box: Sandbox) => filesUnder(join(box.cacheDir, 'blobs'));
const marks = (box: Sandbox) => filesUnder(join(box.cacheDir, 'checked'));

// sleeps past check-marks.ts's 3 s: a blob changed more recently is not marked
const settle = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3_100);

// Changes one byte of `path` in place and puts its times back, as a disk
// (or a careless restore) would: only its ctime tells.
function flipByteKeepingTimes(path: string, at: number): void {
  const before = statSync(path);
  const fd = openSync(path, 'r+');
  try {
    const byte = readFileSync(path)[at]!;
    writeSync(fd, Buffer.from([byte ^ 0x20]), 0, 1, at);
  } finally {
    closeSync(fd);
  }
  utimesSync(path, before.atime, before.mtime);
}

describe('dcache verify', () => {
  it('says all is intact on an empty cache, and exits 0', ({ box }) => {
    const r = box.dcache(['verify']);
    expect([r.code, r.stdout.toString(), r.stderr.toString()]).toEqual([0, 'verified 0 blobs, 0 B: all intact\n', '']);
  });

  it('hashes every blob, marks each one checked, and leaves every entry replaying', ({ box }) => {
    const a = box.counter('a.sh', 'seq 1 20000; echo warn >&2');
    const b = box.counter('b.sh', 'seq 5 9');
    box.dcache(['run', '--', a.path]);
    box.dcache(['run', '--', b.path]);
    settle();
    const r = box.dcache(['verify']);
    expect(r.code).toBe(0);
    const stored = blobs(box);
    expect(stored.length).toBeGreaterThanOrEqual(3);
    expect(r.stdout.toString()).toMatch(new RegExp(`^verified ${stored.length} blobs, \\d+(\\.\\d+)? KiB: all intact\\n$`));
    expect(marks(box).map((p) => p.split('/').pop()).sort()).toEqual(blobs(box).map((p) => p.split('/').pop()).sort());
    expect(box.dcache(['run', '--', b.path]).stdout.toString()).toBe('5\n6\n7\n8\n9\n');
    expect([a.runs(), b.runs()]).toEqual([1, 1]);
  });

  it('removes a blob changed in place with its times put back, with the entries that name it, and exits 1; the next run runs the command again', ({ box }) => {
    const a = box.counter('a.sh', 'seq 1 20000');
    const b = box.counter('b.sh', 'seq 1 20000');
    const c = box.counter('c.sh', 'echo other');
    for (const script of [a, b, c]) box.dcache(['run', '--', script.path]);
    // a and b print the same bytes: one blob, named by two entries
    expect(blobs(box)).toHaveLength(2);
    settle();
    // a hit marks the blob, so that the next hit would not hash it
    box.dcache(['run', '--', a.path]);
    // the biggest blob: the 20,000 lines both print
    const path = blobs(box).sort((x, y) => statSync(y).size - statSync(x).size)[0]!;
    const shared = path.split('/').pop()!;
    flipByteKeepingTimes(path, 1000);
    const r = box.dcache(['verify']);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toMatch(
      new RegExp(`^damaged: blob ${shared.slice(0, 16)}, whose bytes hash to [0-9a-f]{16}: removed, with the 2 entries that named it\\nverified 2 blobs, .*: 1 damaged\\n$`),
    );
    expect(blobs(box).some((p) => p.endsWith(shared))).toBe(false);
    expect(listedEntries(box).map((e) => e.argv[0])).toEqual([c.path]);
    expect(box.dcache(['run', '--', a.path]).stdout.toString()).toBe(Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join(''));
    expect([a.runs(), b.runs(), c.runs()]).toEqual([2, 1, 1]);
    // and all is intact again
    expect(box.dcache(['verify']).code).toBe(0);
  });

  it('leaves unread, and says so, a blob another user could have written; no hit reads it either', ({ box }) => {
    const a = box.counter('a.sh', 'echo shared');
    box.dcache(['run', '--', a.path]);
    const [path] = blobs(box);
    chmodSync(path!, 0o666);
    const r = box.dcache(['verify']);
    expect([r.code, r.stdout.toString()]).toEqual([0, 'verified 0 blobs, 0 B: all intact; 1 blob left unread (not trusted, or removed meanwhile)\n']);
  });
});
