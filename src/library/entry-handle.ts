import type { CacheKey } from '../core/hash.js';
import { sameKeyMaterial, type KeyMaterial } from '../schema/key.js';
import { blobsOf, type Manifest } from '../schema/manifest.js';
import { readCatalog } from '../store/local/catalog.js';
import { emptyReport, removeEntry, sweepBlobs } from '../store/local/gc.js';
import type { LocalStore } from '../store/local/local-store.js';
import { replayValue, type Outcome } from './recipe.js';
import type { CachedEntry, ErrorClass } from './types.js';

// Handles to the stored result of one call (types.ts, CachedEntry).

export interface StoredAt {
  name: string;
  store: LocalStore;
  key: CacheKey;
  material: KeyMaterial;
  classes: ReadonlyMap<string, ErrorClass>;
}

// A handle to an entry in the cache directory.
export function storedHandle<R>(at: StoredAt, manifest: Manifest): CachedEntry<R> {
  const { name, store, key } = at;
  return {
    key,
    stored: true,
    recordedAt: new Date(manifest.recordedAt),
    durationMs: manifest.durationMs,
    get: async () => {
      const gone = (why: string) => Object.assign(new Error(`${name}(): the entry ${key} ${why}; call the function again`), { code: 'DCACHE_ENTRY_GONE' });
      const read = store.readEntry(key);
      if (read.status !== 'found' || !sameKeyMaterial(read.manifest.material, at.material)) throw gone('is no longer in the cache (cleared, or removed by gc)');
      const blobs = store.openBlobs(read.manifest);
      if (!('fd' in blobs)) throw gone(`has lost its value (blob ${blobs.missing} is missing)`);
      let replayed;
      try {
        replayed = replayValue(read.manifest, blobs, at.classes);
      } finally {
        blobs.close();
      }
      if (replayed.kind !== 'done') {
        store.dropEntry(read.manifest, key, replayed.badBlob);
        throw gone('was damaged and is dropped');
      }
      return settle<R>(replayed.result);
    },
    clear: async () => {
      const report = emptyReport();
      const started = store.host.wallNow() - 1000;
      const read = store.readEntry(key);
      removeEntry(store, key, report);
      if (read.status === 'found') {
        // the value's blob goes too, unless another entry holds the same bytes
        const kept = readCatalog(store).entries;
        sweepBlobs(store, kept, new Set(blobsOf(read.manifest).map((b) => b.hash)), report, started);
      }
      if (report.failed > 0) throw new Error(`the entry could not be removed from ${store.root} (${report.failure})`);
    },
  };
}

// A handle to a value that is not in the cache (caching off, or a value
// that could not be stored): it holds the value.
export function heldHandle<R>(outcome: Outcome, key: CacheKey | null, recordedAt: number, durationMs: number): CachedEntry<R> {
  return {
    key,
    stored: false,
    recordedAt: new Date(recordedAt),
    durationMs,
    get: async () => settle<R>(outcome),
    clear: async () => {},
  };
}

function settle<R>(outcome: Outcome): R {
  if (!outcome.ok) throw outcome.error;
  return outcome.value as R;
}
