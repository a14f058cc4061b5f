import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobHash } from '../../../src/core/hash.js';
import type { BlobRef } from '../../../src/schema/manifest.js';
import { restoreOutputs, type OutputRecord } from '../../../src/process/output-files.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import { testHost } from '../../support/host.js';

// restoreOutputs writes what a manifest names, and a manifest may be forged
// (the cache directory may be shared or tampered with): whatever the
// records say, nothing outside the working directory is written, and the
// function answers with a value, never an exception.
//
// Layout of the sandbox:
//   root/wd/        the working directory (emptied before every case)
//   root/outside/   a sibling that must never change
//   root/cache/     the store holding the blobs the records name

let root: string;
let wd: string;
let outside: string;
let store: LocalStore;
let blobs: BlobRef[];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'dcache-restore-property-'));
  wd = join(root, 'wd');
  outside = join(root, 'outside');
  mkdirSync(join(outside, 'dir'), { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), 'do not touch\n');
  writeFileSync(join(outside, 'dir', 'a'), 'a\n');
  store = new LocalStore(join(root, 'cache'), testHost());
  store.prepare();
  blobs = await Promise.all(
    ['payload\n', '', '#!/bin/sh\necho pwned\n'].map((content, i) => {
      const source = join(root, `source-${i}`);
      writeFileSync(source, content);
      return store.storeFile(source);
    }),
  );
});
afterAll(() => {
  for (const fd of opened.values()) closeSync(fd);
  rmSync(root, { recursive: true, force: true });
});

// The store's blobs, each opened once, as a replay opens them.
const opened = new Map<string, number>();
const blobSource = {
  fd(hash: string): number {
    let fd = opened.get(hash);
    if (fd === undefined) {
      fd = openSync(store.blobPath(hash as BlobHash), 'r');
      opened.set(hash, fd);
    }
    return fd;
  },
  path: (hash: string): string => store.blobPath(hash as BlobHash),
  checked: (): boolean => false,
  noteChecked: (): void => {},
};

// Every path under root except the working directory, with what it is.
function snapshot(): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (path === wd) continue;
      const st = lstatSync(path);
      if (st.isSymbolicLink()) seen.set(path, `link ${readlinkSync(path)}`);
      else if (st.isDirectory()) {
        seen.set(path, `dir ${st.mode}`);
        walk(path);
      } else seen.set(path, `file ${st.mode} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    }
  };
  walk(root);
  return seen;
}

// Path segments chosen to reach for the edges: parents, dots, empties,
// odd characters, and the names the other records and the tree use.
const segment = fc.oneof(
  { weight: 16, arbitrary: fc.constantFrom('out', 'sub', 'link', 'a', 'b') },
  { weight: 2, arbitrary: fc.constantFrom('..', '.', '', '...', ' ', 'x y', 'ü', '\n', '-rf', '\\..', '%2e%2e') },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const relativePath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));

// Absolute paths, each aimed at something the snapshot watches.
const absolutePath = fc.constantFrom('@outside/secret.txt', '@outside/new', '@root/pwned', '@wd/../outside/x', '@outside/dir/a');
const resolveMarkers = (path: string) =>
  path.replace('@outside', () => outside).replace('@root', () => root).replace('@wd', () => wd);

const recordPath = fc.oneof({ weight: 12, arbitrary: relativePath }, { weight: 1, arbitrary: absolutePath.map((p) => `\0${p}`) });

const linkTarget = fc.oneof(
  fc.constantFrom('../outside', '../../outside/dir', '@outside', '@outside/secret.txt', '/', '..', '.', 'a', 'out/sub', 'nowhere'),
  fc.string({ maxLength: 8 }),
);

// Link targets built from the steps that defeat a textual check: links to
// links, '..' after a link, chains through a link to '.'.
const chainTarget = fc
  .array(fc.constantFrom('..', '.', 'a', 'b', 'sub', 'c', 'd', 'x'), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.join('/'));

// Where the kernel resolves each path, links followed, a missing tail taken
// as folders (GNU realpath -m): an oracle outside the code under test. A
// link that grows without end (b -> b/x) keeps realpath -m going: such a
// path (a timeout) has no place, and is left out (null).
function kernelResolve(paths: string[]): Array<string | null> {
  return paths.map((path) => {
    const r = spawnSync('realpath', ['-m', '--', path], { encoding: 'utf8', timeout: 2000 });
    return r.status === 0 ? r.stdout.replace(/\n$/, '') : null;
  });
}

interface RawRecord {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  blob: number;
  target: string;
}

const rawRecord: fc.Arbitrary<RawRecord> = fc.record({
  path: recordPath,
  type: fc.constantFrom('file' as const, 'dir' as const, 'symlink' as const),
  mode: fc.oneof(fc.constantFrom(0o644, 0o755, 0o600, 0o000, 0o4755, 0o7777), fc.integer({ min: 0, max: 0o7777 })),
  blob: fc.nat({ max: 3 }),
  target: linkTarget,
});

// A marker path (\0@...) becomes absolute at run time, when the sandbox is known.
function toRecord(raw: RawRecord): OutputRecord {
  const path = raw.path.startsWith('\0') ? resolveMarkers(raw.path.slice(1)) : raw.path;
  switch (raw.type) {
    case 'file':
      // blob 3 is not in the store
      return { path, type: 'file', mode: raw.mode, blob: blobs[raw.blob] ?? { hash: '0123456789abcdef' as BlobRef['hash'], size: 8 } };
    case 'dir':
      return { path, type: 'dir', mode: raw.mode };
    case 'symlink':
      return { path, type: 'symlink', target: resolveMarkers(raw.target) };
  }
}

// Declared outputs: sometimes the first segment of every record (so that
// many records pass the declared-outputs check and reach the file system),
// sometimes any of a few names, odd ones included.
const declaredOf = (records: RawRecord[], mode: 'derived' | 'random', random: string[]) =>
  mode === 'derived' ? [...new Set(records.map((r) => r.path.split('/')[0]!))] : random;
const declaredChoice = fc.tuple(
  fc.constantFrom('derived' as const, 'derived' as const, 'random' as const),
  fc.array(fc.constantFrom('out', 'out/sub', 'link', 'a', '..', '', '.', '/', 'out/'), { maxLength: 3 }),
);

// Things already in the working directory before the restore.
type Existing = { path: string; kind: 'dir' | 'file' | 'link-outside' | 'link-inside' };
type Hostile = { path: string; kind: 'dangling' | 'loop' };
const existingPath = fc.constantFrom('out', 'out/sub', 'link', 'a', 'out/link');
const existing = fc.array(
  fc.record({ path: existingPath, kind: fc.constantFrom('dir' as const, 'file' as const, 'link-outside' as const, 'link-inside' as const) }),
  { maxLength: 3 },
);
const hostile = fc.array(fc.record({ path: existingPath, kind: fc.constantFrom('dangling' as const, 'loop' as const) }), {
  minLength: 1,
  maxLength: 2,
});

function prepareWorkingDirectory(items: Array<Existing | Hostile>): void {
  rmSync(wd, { recursive: true, force: true });
  mkdirSync(wd);
  for (const item of items) {
    // The set-up itself must not reach outside through a link it made.
    const parts = item.path.split('/');
    const throughLink = parts.slice(0, -1).some((_, i) => lstatOrNull(join(wd, ...parts.slice(0, i + 1)))?.isSymbolicLink());
    if (throughLink || lstatOrNull(join(wd, item.path)) !== null) continue;
    const path = join(wd, item.path);
    try {
      mkdirSync(join(path, '..'), { recursive: true });
      switch (item.kind) {
        case 'dir':
          mkdirSync(path);
          break;
        case 'file':
          writeFileSync(path, 'already here\n');
          break;
        case 'link-outside':
          symlinkSync(outside, path);
          break;
        case 'link-inside':
          symlinkSync('.', path);
          break;
        case 'dangling':
          symlinkSync(join(root, 'no-such-dir'), path);
          break;
        case 'loop':
          symlinkSync(parts.at(-1)!, path);
          break;
      }
    } catch {
      // a file where a directory would go: the tree stays as it is
    }
  }
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

// Restores the records and checks the two promises.
async function restoreAndCheck(records: RawRecord[], declaredMode: 'derived' | 'random', randomDeclared: string[]): Promise<boolean> {
  const before = snapshot();
  let result: Awaited<ReturnType<typeof restoreOutputs>>;
  try {
    result = await restoreOutputs(blobSource, wd, declaredOf(records, declaredMode, randomDeclared), records.map(toRecord), 'test');
  } catch (err) {
    throw new Error(`restoreOutputs threw ${String(err)}`);
  }
  expect(typeof result.ok).toBe('boolean');
  expect(snapshot()).toEqual(before);
  return true;
}

describe('restoreOutputs on random output records', () => {
  it('never throws and never writes outside the working directory', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rawRecord, { minLength: 1, maxLength: 6 }), declaredChoice, existing, (records, [mode, random], tree) => {
        prepareWorkingDirectory(tree);
        return restoreAndCheck(records, mode, random);
      }),
      { numRuns: 400 },
    );
  });

  it('refuses every record that is absolute or has a .. segment, and writes nothing then', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rawRecord, { maxLength: 4 }),
        fc.oneof(absolutePath.map((p) => `\0${p}`), relativePath.filter((p) => p.split('/').includes('..'))),
        fc.nat(),
        async (records, bad, at) => {
          prepareWorkingDirectory([]);
          const all = [...records];
          all.splice(at % (all.length + 1), 0, { path: bad, type: 'file', mode: 0o644, blob: 0, target: '' });
          const result = await restoreOutputs(blobSource, wd, declaredOf(all, 'derived', []), all.map(toRecord), 'test');
          expect(result.ok).toBe(false);
          expect(readdirSync(wd)).toEqual([]);
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws when the working directory holds a dangling or looping symlink', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rawRecord, { minLength: 1, maxLength: 4 }), declaredChoice, existing, hostile, (records, [mode, random], tree, bad) => {
        prepareWorkingDirectory([...tree, ...bad]);
        return restoreAndCheck(records, mode, random);
      }),
      { numRuns: 300 },
    );
  });

  // A remote entry: whatever it holds and whatever the tree holds, once it
  // is restored every link it made resolves inside the working directory,
  // as the kernel resolves it (realpath -m: links followed, a missing tail
  // taken as folders to be made), and no mode carries a bit of the mask.
  it('leaves no link of a remote entry that resolves outside, and no mode outside the umask', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rawRecord, { maxLength: 2 }),
        fc.array(fc.record({ path: fc.constantFrom('out/a', 'out/b', 'out/sub/c', 'out/sub/d'), target: chainTarget }), { minLength: 1, maxLength: 4 }),
        existing,
        async (records, links, tree) => {
          prepareWorkingDirectory(tree);
          const all: RawRecord[] = [...records, ...links.map((l) => ({ path: l.path, type: 'symlink' as const, mode: 0, blob: 0, target: l.target }))];
          const before = snapshot();
          const result = await restoreOutputs(blobSource, wd, ['out'], all.map(toRecord), 'test', { confineLinks: true, modeMask: 0o022 });
          expect(snapshot()).toEqual(before);
          if (!result.ok) return true;
          const made = all.filter((r) => r.type === 'symlink' && lstatOrNull(join(wd, r.path))?.isSymbolicLink());
          const real = realpathSync(wd);
          for (const [i, resolved] of kernelResolve(made.map((r) => join(wd, r.path))).entries()) {
            if (resolved === null) continue;
            expect(resolved === real || resolved.startsWith(`${real}/`), `${made[i]!.path} -> ${made[i]!.target} resolves to ${resolved}`).toBe(true);
          }
          for (const r of all.filter((r) => r.type !== 'symlink')) {
            const st = lstatOrNull(join(wd, r.path));
            if (st !== null && !st.isSymbolicLink()) expect(st.mode & 0o6022).toBe(0);
          }
          return true;
        },
      ),
      { numRuns: 300, seed: 26 },
    );
  });

  // Found by the first property (shrunk by hand): a symlink record replaces
  // an in-tree link that a later record's path goes through, textually
  // unrelated to the symlink record, so the later record passes the checks
  // made before writing.
  it('creates no directory outside through an in-tree link that an earlier record replaces', async () => {
    prepareWorkingDirectory([{ path: 'out/self', kind: 'link-inside' }]);
    const before = snapshot();
    const result = await restoreOutputs(blobSource, wd, ['out'], [
      { path: 'out/self/self', type: 'symlink', target: outside },
      { path: 'out/self/x/y', type: 'dir', mode: 0o755 },
    ], 'test');
    expect(result.ok).toBe(false);
    expect(snapshot()).toEqual(before);
  });
});
