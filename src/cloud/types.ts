import type { Readable } from 'node:stream';

// What dcache needs of an object store (S3, GCS, Azure Blob Storage): to
// watch an object or a prefix (stat, list), and to hold a shared cache
// (read, write, remove, with the conditional writes a lease is made of).
// Each cloud's client implements it over its own REST API; a failure is a
// CloudError with the cloud's code.

// An object's metadata: what changes when it is uploaded again.
export interface CloudObject {
  etag: string | null;
  // S3's version id, GCS's generation, Azure's version id: null without versioning
  version: string | null;
  size: number;
  lastModified: string | null;
}

// One object of a listing.
export interface ListedObject {
  key: string;
  etag: string | null;
  size: number;
  // when it was last written (the store's clock), ms since 1970; NaN if not said
  modifiedMs: number;
  // what a conditional write or delete of it names (see Condition)
  match: string;
}

// What a conditional write or delete asks of the object's current state:
// that there is none (S3 and Azure If-None-Match: *, GCS
// ifGenerationMatch=0), or that it is still the one seen (S3 and Azure
// If-Match: <ETag>, GCS ifGenerationMatch=<generation>).
export type Condition = { absent: true } | { match: string };

// A body to upload: bytes, or a file's bytes opened a range at a time (a
// large one goes in parts, each streamed from the file).
export type UploadBody = Buffer | { size: number; open(start: number, end: number): Readable };

// An object read: its bytes, streamed, and what names its state.
export interface ObjectRead {
  body: AsyncIterable<Buffer>;
  match: string;
  // how long ago, at least, it was last written, by the store's own clock
  // (its Date and Last-Modified headers), or null if it does not say
  ageMs: number | null;
  // drops the rest of the body
  cancel(): void;
  // the body's length as the store announced it, or null if it did not
  size: number | null;
  // the MD5 of the body, as the store vouches for it (S3's ETag of a
  // single-part upload, GCS's x-goog-hash, Azure's Content-MD5), or null
  // where it gives none
  md5: Buffer | null;
}

export interface ObjectStore {
  // the object's metadata, or null if there is no such object
  stat(bucket: string, key: string, signal?: AbortSignal): Promise<CloudObject | null>;
  // every object whose key starts with `prefix`, all pages
  list(bucket: string, prefix: string, signal?: AbortSignal): Promise<ListedObject[]>;
  // the object, streamed, or null if there is none
  read(bucket: string, key: string, signal: AbortSignal): Promise<ObjectRead | null>;
  // whether there is such an object (HEAD)
  exists(bucket: string, key: string, signal: AbortSignal): Promise<boolean>;
  // Writes the object whole; with a condition, only if it holds. The new
  // state's match, or null when the condition did not hold.
  write(bucket: string, key: string, body: UploadBody, signal: AbortSignal, condition?: Condition): Promise<string | null>;
  // Removes the object; with `match`, only if it is still in that state.
  // False when the condition did not hold; an absent object is removed.
  remove(bucket: string, key: string, signal: AbortSignal, match?: string): Promise<boolean>;
}
