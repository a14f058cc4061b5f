import { describe, expect, it } from 'vitest';
import type { Fingerprint } from '../../../src/schema/fingerprint.js';
import { listingFingerprint, s3Kind } from '../../../src/sources/cloud-object.js';
import type { WatchSource } from '../../../src/sources/source.js';

// The fingerprint of a watched cloud object or listing: what makes two of
// them the same source unchanged, and what --explain says changed.

const source: WatchSource = { kind: 's3', source: 's3://exports/daily/', label: 's3://exports/daily/', id: 's3:exports/daily/' };
const object = (over: Record<string, unknown> = {}): Fingerprint => ({
  kind: 's3',
  source: 's3://exports/a.csv',
  id: 's3:exports/a.csv',
  etag: '"5d41402abc4b2a76b9719d911017c592"',
  version: null,
  size: 5,
  lastModified: 'Sun, 29 Nov 2026 10:00:00 GMT',
  ...over,
});
const listing = (objects: Array<[string, string, number]>) =>
  listingFingerprint('s3', source, objects.map(([key, etag, size]) => ({ key, etag, size })));

describe('an object’s fingerprint', () => {
  it('is unchanged only when ETag, version, size and last-modified all are', () => {
    expect(s3Kind.same(object(), object())).toBe(true);
    for (const over of [{ etag: '"other"' }, { version: 'v2' }, { size: 6 }, { lastModified: 'Sun, 29 Nov 2026 11:00:00 GMT' }]) {
      expect(s3Kind.same(object(), object(over))).toBe(false);
    }
  });

  it('says which fields changed', () => {
    expect(s3Kind.describeChange!(object(), object({ etag: '"b"', size: 9 }))).toBe('ETag "5d41402abc4b2a76b9719d911017c592" → "b", size 5 B → 9 B');
  });

  it('gives sizes as everywhere else, and in bytes where that would make them read the same', () => {
    expect(s3Kind.describeChange!(object({ size: 3 * 2 ** 20 }), object({ size: 5 * 2 ** 20 }))).toBe('size 3.0 MiB → 5.0 MiB');
    expect(s3Kind.describeChange!(object({ size: 3 * 2 ** 20 }), object({ size: 3 * 2 ** 20 + 7 }))).toBe('size 3145728 B → 3145735 B');
  });

  it('is never the same as a listing, nor when it is malformed', () => {
    const list = listing([['daily/a.csv', '"x"', 1]]);
    expect(s3Kind.same(object(), list)).toBe(false);
    expect(s3Kind.same(object({ size: 'five' }), object({ size: 'five' }))).toBe(false);
    expect(s3Kind.describe(object({ etag: 42 }))).toBe('unreadable');
  });
});

describe('a listing’s fingerprint', () => {
  it('does not depend on the order the store listed the keys in', () => {
    const a = listing([
      ['daily/a.csv', '"1"', 1],
      ['daily/b.csv', '"2"', 2],
    ]);
    const b = listing([
      ['daily/b.csv', '"2"', 2],
      ['daily/a.csv', '"1"', 1],
    ]);
    expect(a.listing).toBe(b.listing);
    expect(s3Kind.same(a, b)).toBe(true);
  });

  it('changes with a key, an ETag or a size, and says which keys were added, removed and changed', () => {
    const before = listing([
      ['daily/a.csv', '"1"', 1],
      ['daily/b.csv', '"2"', 2],
    ]);
    const after = listing([
      ['daily/a.csv', '"1b"', 1],
      ['daily/c.csv', '"3"', 3],
    ]);
    expect(s3Kind.same(before, after)).toBe(false);
    expect(s3Kind.describeChange!(before, after)).toBe('added daily/c.csv; removed daily/b.csv; changed daily/a.csv');
    expect(s3Kind.same(before, listing([['daily/a.csv', '"1"', 1], ['daily/b.csv', '"2"', 3]]))).toBe(false);
  });

  it('keeps the keys of a listing of up to 100 objects, and only a count and a hash of a longer one', () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i): [string, string, number] => [`daily/${String(i).padStart(5, '0')}`, `"${i}"`, i]);
    const short = listing(keys(100));
    expect(short.objects).toHaveLength(100);
    const long = listing(keys(10_000));
    expect(long).toMatchObject({ count: 10_000, objects: null });
    expect(JSON.stringify(long).length).toBeLessThan(300);
    expect(s3Kind.describeChange!(long, listing(keys(10_001)))).toBe('10000 objects then, 10001 now');
    expect(s3Kind.describe(long)).toMatch(/^10000 objects, listing hash [0-9a-f]{16}$/);
  });
});
