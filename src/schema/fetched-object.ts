import type { BlobRef } from './output-record.js';
import { isBlobRef } from './output-record.js';

// One object of a `dcache fetch`, as its entry records it: the object's
// identity when it was fetched (what a listing or a HEAD says of it: its
// ETag, its version or generation, its size), the blob its bytes are, and
// the file written with them. An object whose identity is the same next
// time is not downloaded again.
export interface FetchedObject {
  // the object's key in the bucket
  key: string;
  // where it was written, relative to -o's directory ('/'-separated); ''
  // when -o names the file itself (one object), or for standard output
  path: string;
  etag: string | null;
  // S3's version id, GCS's generation, Azure's version id, or null
  version: string | null;
  size: number;
  blob: BlobRef;
  // the file as written (its mtime, ms): a working copy with another mtime
  // or size may have been edited, and is hashed to be sure
  mtimeMs: number | null;
}

// The identity of an object, as compared from one fetch to the next.
export interface ObjectIdentity {
  key: string;
  etag: string | null;
  version: string | null;
  size: number;
}

export function sameIdentity(a: ObjectIdentity, b: ObjectIdentity): boolean {
  return a.key === b.key && a.etag === b.etag && a.version === b.version && a.size === b.size;
}

export function isFetchedObject(v: unknown): v is FetchedObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const text = (x: unknown) => x === null || typeof x === 'string';
  return (
    typeof o.key === 'string' &&
    typeof o.path === 'string' &&
    text(o.etag) &&
    text(o.version) &&
    Number.isSafeInteger(o.size) &&
    (o.size as number) >= 0 &&
    isBlobRef(o.blob) &&
    (o.mtimeMs === null || typeof o.mtimeMs === 'number')
  );
}
