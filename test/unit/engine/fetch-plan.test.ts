import fc from 'fast-check';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeChanges, pathOfKey, planFetch } from '../../../src/engine/fetch-plan.js';
import type { FetchedObject, ObjectIdentity } from '../../../src/schema/fetched-object.js';

// How dcache fetch maps keys to paths below -o, and what it decides to
// download, keep and remove. A fixed seed in the suite; FC_RUNS=100000 for
// a long run.
const RUNS = Number(process.env.FC_RUNS ?? 2000);
const SEED = 20_261_207;

// Keys of the shapes that matter: segments that are '.', '..', empty,
// unicode, long; slashes anywhere.
const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'daily', '2026-12-08.csv', 'é', '日本', '😀', 'x y', '...', '.hidden', 'a\\b') },
  { weight: 2, arbitrary: fc.constantFrom('.', '..', '', '\0') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constant('L'.repeat(256)) },
);
const key = fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'));
const base = fc.constantFrom('', 'p/', 'acme/daily/');

const identity = (k: string, etag = 'e1', size = 1): ObjectIdentity => ({ key: k, etag, version: null, size });
const recorded = (k: string, path: string, etag = 'e1'): FetchedObject => ({
  key: k,
  path,
  etag,
  version: null,
  size: 1,
  blob: { hash: '0'.repeat(64) as FetchedObject['blob']['hash'], size: 1 },
  mtimeMs: 1,
});

describe('the path of a key below -o', () => {
  it('never leaves the directory, and mirrors the key below the prefix', () => {
    fc.assert(
      fc.property(base, key, (b, k) => {
        const mapped = pathOfKey(b + k, b);
        if (mapped.ok !== true) return;
        const resolved = posix.resolve('/root/out', mapped.path);
        expect(resolved.startsWith('/root/out/')).toBe(true);
        expect(posix.normalize(mapped.path)).toBe(mapped.path);
        expect(b + mapped.path).toBe(b + k);
        expect(mapped.path.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && Buffer.byteLength(s) <= 255 && !s.includes('\0'))).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it.each([
    ['../escape.csv', "a '..' segment in the key"],
    ['a/../../escape.csv', "a '..' segment in the key"],
    ['./a.csv', "a '.' segment in the key"],
    ['/etc/passwd', 'a key that starts with / below the prefix'],
    ['a//b.csv', 'an empty segment (//) in the key'],
    ['a\0b', 'a NUL in the key'],
    [`${'L'.repeat(256)}.csv`, 'a segment longer than the 255 bytes a file name may have'],
  ])('refuses %j: %s', (k, why) => {
    expect(pathOfKey(`p/${k}`, 'p/')).toEqual({ ok: false, why });
  });

  it('takes unicode, dots within names and backslashes as they are', () => {
    expect(pathOfKey('p/é/日本/😀.csv', 'p/')).toEqual({ ok: true, path: 'é/日本/😀.csv' });
    expect(pathOfKey('p/.hidden/...', 'p/')).toEqual({ ok: true, path: '.hidden/...' });
    expect(pathOfKey('p/a\\b', 'p/')).toEqual({ ok: true, path: 'a\\b' });
  });

  it('takes a key ending in / for a folder marker, and no file', () => {
    expect(pathOfKey('p/daily/', 'p/')).toEqual({ ok: 'folder' });
    expect(pathOfKey('p/', 'p/')).toEqual({ ok: 'folder' });
  });
});

describe('the plan of a fetch', () => {
  it('never puts two objects at one path, nor a file where another object needs a folder', () => {
    fc.assert(
      fc.property(base, fc.uniqueArray(key, { maxLength: 12 }), (b, keys) => {
        const plan = planFetch([], keys.map((k) => identity(b + k)), b);
        const paths = plan.objects.map((o) => o.path);
        expect(new Set(paths).size).toBe(paths.length);
        for (const p of paths) expect(paths.some((q) => q.startsWith(`${p}/`))).toBe(false);
        // every listed key is planned, skipped, or a folder marker
        for (const k of keys) {
          const planned = plan.objects.some((o) => o.object.key === b + k);
          const skipped = plan.skipped.some((s) => s.key === b + k);
          expect(planned || skipped || pathOfKey(b + k, b).ok === 'folder').toBe(true);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('keeps an object whose identity is the one recorded, and downloads one whose ETag, version or size moved', () => {
    const previous = [recorded('p/a', 'a'), recorded('p/b', 'b'), recorded('p/c', 'c'), recorded('p/gone', 'gone')];
    const plan = planFetch(previous, [identity('p/a'), { ...identity('p/b'), etag: 'e2' }, { ...identity('p/c'), size: 2 }, identity('p/new')], 'p/');
    expect(plan.objects.map((o) => [o.object.key, o.kept !== null])).toEqual([
      ['p/a', true],
      ['p/b', false],
      ['p/c', false],
      ['p/new', false],
    ]);
    expect(plan.removed.map((o) => o.key)).toEqual(['p/gone']);
    expect(describeChanges(plan, ['p/gone'])).toBe('added p/new; changed p/b, p/c; removed p/gone');
  });

  it('skips a key that is also the folder of others (a and a/b), and removes the file it recorded there', () => {
    const plan = planFetch([recorded('p/a', 'a')], [identity('p/a'), identity('p/a/b')], 'p/');
    expect(plan.objects.map((o) => o.path)).toEqual(['a/b']);
    expect(plan.skipped).toEqual([{ key: 'p/a', why: 'also the folder of other keys (a/…)' }]);
    expect(plan.removed.map((o) => o.path)).toEqual(['a']);
  });

  it('says "and N more" past five keys of a kind', () => {
    const added = ['1', '2', '3', '4', '5', '6', '7'];
    expect(describeChanges({ added, changed: [] }, [])).toBe('added 1, 2, 3, 4, 5 and 2 more');
    expect(describeChanges({ added: [], changed: [] }, [])).toBeNull();
  });
});
