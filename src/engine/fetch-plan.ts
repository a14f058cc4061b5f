import type { FetchedObject, ObjectIdentity } from '../schema/fetched-object.js';
import { sameIdentity } from '../schema/fetched-object.js';

// What a `dcache fetch` of a prefix or glob must do, decided from what the
// last whole fetch recorded and what the source lists now (pure): which
// objects are kept (same identity: no download), which download, which
// were removed, and which keys cannot be files under -o at all.

// The longest name a file system takes for one path segment (NAME_MAX).
const NAME_MAX_BYTES = 255;

export type KeyPath = { ok: true; path: string } | { ok: false; why: string } | { ok: 'folder' };

// The path, relative to -o's directory, that the object `key` mirrors to:
// the key less `base`, '/'-separated. A key that would not stay a plain
// file below the directory is refused, with why: an empty, '.' or '..'
// segment, a NUL, a segment longer than a file name may be. A key ending
// in '/' is a folder marker (the S3 console makes them), and is no file.
export function pathOfKey(key: string, base: string): KeyPath {
  if (!key.startsWith(base)) return { ok: false, why: 'outside the prefix' };
  const rest = key.slice(base.length);
  if (rest === '' || rest.endsWith('/')) return { ok: 'folder' };
  if (rest.includes('\0')) return { ok: false, why: 'a NUL in the key' };
  for (const segment of rest.split('/')) {
    if (segment === '') return { ok: false, why: rest.startsWith('/') ? 'a key that starts with / below the prefix' : 'an empty segment (//) in the key' };
    if (segment === '.' || segment === '..') return { ok: false, why: `a '${segment}' segment in the key` };
    if (Buffer.byteLength(segment) > NAME_MAX_BYTES) return { ok: false, why: `a segment longer than the ${NAME_MAX_BYTES} bytes a file name may have` };
  }
  return { ok: true, path: rest };
}

export interface PlannedObject<O extends ObjectIdentity> {
  object: O;
  path: string;
  // what the last fetch recorded of it when it is the same object: its
  // blob is used, nothing is downloaded
  kept: FetchedObject | null;
}

export interface FetchPlan<O extends ObjectIdentity> {
  objects: Array<PlannedObject<O>>;
  // recorded objects no longer listed (or now at another path): their files go
  removed: FetchedObject[];
  // keys that cannot be files here, and why
  skipped: Array<{ key: string; why: string }>;
  // for -v: the keys added, changed and removed since the last fetch
  added: string[];
  changed: string[];
}

// `pathOf` maps a key to its path; by default, the key below `base`.
export function planFetch<O extends ObjectIdentity>(
  previous: readonly FetchedObject[],
  listed: readonly O[],
  base: string,
  pathOf: (key: string) => KeyPath = (key) => pathOfKey(key, base),
): FetchPlan<O> {
  const before = new Map(previous.map((o) => [o.key, o]));
  const skipped: Array<{ key: string; why: string }> = [];
  const mapped: Array<{ object: O; path: string }> = [];
  for (const object of [...listed].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const path = pathOf(object.key);
    if (path.ok === 'folder') continue;
    if (!path.ok) skipped.push({ key: object.key, why: path.why });
    else mapped.push({ object, path: path.path });
  }
  // A path that is also a folder of others ('a' and 'a/b'): the folder
  // wins, the object at its name is skipped.
  const folders = new Set<string>();
  for (const { path } of mapped) for (let at = path.indexOf('/'); at !== -1; at = path.indexOf('/', at + 1)) folders.add(path.slice(0, at));
  const objects: Array<PlannedObject<O>> = [];
  const added: string[] = [];
  const changed: string[] = [];
  for (const { object, path } of mapped) {
    if (folders.has(path)) {
      skipped.push({ key: object.key, why: `also the folder of other keys (${path}/…)` });
      continue;
    }
    const recorded = before.get(object.key);
    const kept = recorded !== undefined && recorded.path === path && sameIdentity(recorded, object) ? recorded : null;
    if (recorded === undefined) added.push(object.key);
    else if (kept === null) changed.push(object.key);
    objects.push({ object, path, kept });
  }
  const now = new Map(objects.map((o) => [o.object.key, o.path]));
  const removed = previous.filter((o) => now.get(o.key) !== o.path);
  const paths = new Set(objects.map((o) => o.path));
  return {
    objects,
    // a recorded file at a path another object now takes is replaced, not removed
    removed: removed.filter((o) => !paths.has(o.path)),
    skipped: skipped.sort((a, b) => (a.key < b.key ? -1 : 1)),
    added,
    changed,
  };
}

// "added a.csv; changed b.csv, c.csv; removed d.csv", at most `shown` keys of each kind
export function describeChanges(plan: Pick<FetchPlan<ObjectIdentity>, 'added' | 'changed'>, removed: readonly string[], shown = 5): string | null {
  const part = (what: string, keys: readonly string[]) =>
    keys.length === 0 ? null : `${what} ${keys.slice(0, shown).join(', ')}${keys.length > shown ? ` and ${keys.length - shown} more` : ''}`;
  return [part('added', plan.added), part('changed', plan.changed), part('removed', removed)].filter(Boolean).join('; ') || null;
}
