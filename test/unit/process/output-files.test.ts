import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobHash } from '../../../src/core/hash.js';
import { restoreOutputs, type BlobSource } from '../../../src/process/output-files.js';

// A restore copies each blob by its stored path while it hashes the blob it
// opened; these cases hold it to the bytes it opened and verified. The
// blobs are larger than every chunk the copy and the hash use.

const BIG = 3 * (1 << 20) + 12345;

let root: string;
let wd: string;
const opened: number[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dcache-restore-'));
  wd = join(root, 'wd');
  mkdirSync(wd);
});
afterEach(() => {
  for (const fd of opened.splice(0)) closeSync(fd);
  rmSync(root, { recursive: true, force: true });
});

// A blob stored at root/blob, opened as a replay opens it.
function storeBlob(bytes: Buffer): { source: BlobSource; hash: BlobHash; path: string } {
  const path = join(root, 'blob');
  writeFileSync(path, bytes);
  const fd = openSync(path, 'r');
  opened.push(fd);
  const hash = createHash('sha256').update(bytes).digest('hex') as BlobHash;
  return { source: { fd: () => fd, path: () => path, checked: () => false, noteChecked: () => {} }, hash, path };
}

const restore = (source: BlobSource, hash: BlobHash, size: number) =>
  restoreOutputs(source, wd, ['big.bin'], [{ path: 'big.bin', type: 'file', mode: 0o644, blob: { hash, size } }], 'test');

describe('restoring a large output file', () => {
  it('restores the recorded bytes exactly', async () => {
    const bytes = randomBytes(BIG);
    const { source, hash } = storeBlob(bytes);
    expect(await restore(source, hash, bytes.length)).toEqual({ ok: true, value: undefined });
    expect(readFileSync(join(wd, 'big.bin')).equals(bytes)).toBe(true);
  });

  it('reports a blob altered in place as bad, and leaves neither the file nor a temp file', async () => {
    const bytes = randomBytes(BIG);
    const { source, hash, path } = storeBlob(bytes);
    const altered = Buffer.from(bytes);
    altered[BIG - 1] = altered[BIG - 1]! ^ 1;
    writeFileSync(path, altered);
    const result = await restore(source, hash, bytes.length);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.reason).toBe('bad-blob');
    expect(readdirSync(wd)).toEqual([]);
  });

  it('restores the bytes it opened when another file has taken the blob path since', async () => {
    const bytes = randomBytes(BIG);
    const { source, hash, path } = storeBlob(bytes);
    const other = join(root, 'other');
    writeFileSync(other, randomBytes(BIG));
    renameSync(other, path);
    expect(await restore(source, hash, bytes.length)).toEqual({ ok: true, value: undefined });
    expect(readFileSync(join(wd, 'big.bin')).equals(bytes)).toBe(true);
    expect(readdirSync(wd)).toEqual(['big.bin']);
  });

  it('restores the bytes it opened when the blob path is gone', async () => {
    const bytes = randomBytes(BIG);
    const { source, hash, path } = storeBlob(bytes);
    rmSync(path);
    expect(await restore(source, hash, bytes.length)).toEqual({ ok: true, value: undefined });
    expect(readFileSync(join(wd, 'big.bin')).equals(bytes)).toBe(true);
  });
});
