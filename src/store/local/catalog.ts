import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheKey } from '../../core/hash.js';
import type { Manifest } from '../../schema/manifest.js';
import { blobsOf } from '../../schema/manifest.js';
import type { Host } from '../../ports/host.js';
import type { ReadEntryResult } from '../../ports/tiers.js';

// What the catalog and gc need of a store: where its files are, and how an
// entry is read (LocalStore is one).
export interface StoreFiles {
  readonly root: string;
  readonly host: Host;
  manifestPath(key: CacheKey): string;
  readEntry(key: CacheKey): ReadEntryResult;
}

export interface CatalogEntry {
  key: CacheKey;
  manifest: Manifest;
  // the bytes of the blobs it names, each once
  bytes: number;
}

export interface Catalog {
  entries: CatalogEntry[];
  // keys whose manifest is damaged, or that another user could have written
  bad: CacheKey[];
}

// Every entry in the store, read and checked like a lookup reads it.
export function readCatalog(store: StoreFiles): Catalog {
  const catalog: Catalog = { entries: [], bad: [] };
  for (const key of listKeys(store)) {
    const read = store.readEntry(key);
    if (read.status === 'found') {
      catalog.entries.push({ key, manifest: read.manifest, bytes: blobsOf(read.manifest).reduce((n, b) => n + b.size, 0) });
    } else if (read.status === 'bad' || read.status === 'distrusted') {
      catalog.bad.push(key);
    }
  }
  catalog.entries.sort((a, b) => a.manifest.recordedAt - b.manifest.recordedAt || (a.key < b.key ? -1 : 1));
  return catalog;
}

export function listKeys(store: StoreFiles): CacheKey[] {
  const keys: CacheKey[] = [];
  const dir = join(store.root, 'entries');
  for (const shard of safeReaddir(dir)) {
    for (const name of safeReaddir(join(dir, shard))) {
      const m = /^([0-9a-f]{16})\.json$/.exec(name);
      if (m) keys.push(m[1] as CacheKey);
    }
  }
  return keys;
}

// Every blob file in the store with its size and mtime.
export function listBlobs(store: StoreFiles): Array<{ hash: string; path: string; size: number; mtimeMs: number }> {
  const blobs = [];
  const dir = join(store.root, 'blobs');
  for (const shard of safeReaddir(dir)) {
    for (const name of safeReaddir(join(dir, shard))) {
      const path = join(dir, shard, name);
      try {
        const st = statSync(path);
        blobs.push({ hash: name, path, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
  }
  return blobs;
}

// The names in a directory, but for symlinks: nothing under the cache
// directory is reached through a link.
export function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => !d.isSymbolicLink())
      .map((d) => d.name);
  } catch {
    return [];
  }
}
