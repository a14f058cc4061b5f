import { createHash } from 'node:crypto';

// Two hashes, two jobs. Content (blobs, stdin, environment values, watched
// files) is addressed by SHA-256: a 64-bit hash can be collided on purpose in
// minutes, and a shared cache must not let one writer's bytes stand for
// another's. Entries are named by xxh64 of their key material (xxh64.ts):
// the full material is stored in the entry and compared on read, so a
// collision of names is a miss, never a wrong replay.

// A 16-hex-digit xxh64 of the key material: names an entry.
export type CacheKey = string & { readonly __brand: 'CacheKey' };
// A 64-hex-digit SHA-256 of a blob's bytes: names a blob.
export type BlobHash = string & { readonly __brand: 'BlobHash' };

export function toHex64(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

// Hashes bytes as they stream past; `digest` may be called once.
export interface StreamHash {
  update(chunk: Uint8Array): void;
  digest(): BlobHash;
}

export function createStreamHash(): StreamHash {
  const state = createHash('sha256');
  return {
    update(chunk) {
      state.update(chunk);
    },
    digest() {
      return state.digest('hex') as BlobHash;
    },
  };
}

export function hashBytes(bytes: Uint8Array | string): BlobHash {
  return createHash('sha256').update(bytes).digest('hex') as BlobHash;
}

const KEY_PATTERN = /^[0-9a-f]{16}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export function isHash64(text: unknown): text is string {
  return typeof text === 'string' && KEY_PATTERN.test(text);
}

export function isSha256(text: unknown): text is string {
  return typeof text === 'string' && SHA256_PATTERN.test(text);
}

// A SHA-256 as people read it, in every message and report: its first 16
// hexadecimal digits (64 bits tell the hashes of one cache apart, as git's
// short hashes do), whole in --json. Anything else is shown as it is.
export const SHOWN_HASH_DIGITS = 16;

export function displayHash(hash: string): string {
  return isSha256(hash) ? hash.slice(0, SHOWN_HASH_DIGITS) : hash;
}
