import { closeSync, openSync, readFileSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import type { Sandbox } from '../support/sandbox.js';

// A local hit hashes a blob only until a hit has checked it; from then on it
// trusts the blob while its file is as it was checked (check-marks.ts). A
// check is marked only 3 s after the blob's last change (blob-files.ts), so
// the tests wait that long after recording. A
// blob changed on disk after that is never replayed: here the blob is edited
// in place and its mtime put back, as `touch -r` would.

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function blobOf(box: Sandbox, bytes: string): string {
  const found = listFiles(join(box.cacheDir, 'blobs')).filter((path) => readFileSync(path, 'utf8') === bytes);
  expect(found).toHaveLength(1);
  return found[0]!;
}

// Overwrites a byte in place, then puts the file's times back.
function editInPlace(path: string, at: number, byte: string): void {
  const st = statSync(path);
  const fd = openSync(path, 'r+');
  writeSync(fd, byte, at);
  closeSync(fd);
  utimesSync(path, st.atime, st.mtime);
}

describe('a blob checked by a hit', () => {
  it('is marked, and one edited in place after that, mtime put back, is not replayed: the command runs again', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo "customer,amount"');
    const run = () => box.dcache(['run', '--', fetch.path]);
    run();
    pause(3_100);
    // the first hit hashes the blob and leaves its mark; the second trusts it
    for (let i = 0; i < 2; i++) expect(run().stdout.toString()).toBe('customer,amount\n');
    expect(listFiles(join(box.cacheDir, 'checked'))).toHaveLength(1);
    expect(fetch.runs()).toBe(1);
    editInPlace(blobOf(box, 'customer,amount\n'), 0, 'X');
    const after = run();
    expect([after.code, after.stdout.toString()]).toEqual([0, 'customer,amount\n']);
    expect(after.stderr).toMatch(/does not match its hash/);
    expect(fetch.runs()).toBe(2);
  });

  it('restored as an output file (-o), edited in place after its check, is not restored: the command runs again', ({ box }) => {
    const make = box.counter('make.sh', 'printf "report v1\\n" > report.txt');
    const run = () => box.dcache(['run', '-o', 'report.txt', '--', make.path]);
    run();
    pause(3_100);
    for (let i = 0; i < 2; i++) expect(run().code).toBe(0);
    expect(make.runs()).toBe(1);
    editInPlace(blobOf(box, 'report v1\n'), 7, '2');
    const after = run();
    expect(after.code).toBe(0);
    expect(readFileSync(box.path('report.txt'), 'utf8')).toBe('report v1\n');
    expect(make.runs()).toBe(2);
  });
});
