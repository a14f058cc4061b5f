import xxhash from 'xxhash-wasm';

export type Hasher = Awaited<ReturnType<typeof xxhash>>;

// A 16-hex-digit xxh64 of the key material: names an entry.
export type CacheKey = string & { readonly __brand: 'CacheKey' };
// A 16-hex-digit xxh64 of a blob's bytes: names a blob.
export type BlobHash = string & { readonly __brand: 'BlobHash' };

let hasher: Promise<Hasher> | undefined;

// Compiles the xxhash WebAssembly module once per process.
export function loadHasher(): Promise<Hasher> {
  hasher ??= xxhash();
  return hasher;
}

export function toHex64(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

// Hashes bytes as they stream past; `digest` may be called once.
export interface StreamHash {
  update(chunk: Uint8Array): void;
  digest(): BlobHash;
}

export function createStreamHash(h: Hasher): StreamHash {
  const state = h.create64();
  return {
    update(chunk) {
      state.update(chunk);
    },
    digest() {
      return toHex64(state.digest()) as BlobHash;
    },
  };
}

export function hashBytes(h: Hasher, bytes: Uint8Array): BlobHash {
  return toHex64(h.h64Raw(bytes)) as BlobHash;
}

const HASH_PATTERN = /^[0-9a-f]{16}$/;

export function isHash64(text: unknown): text is string {
  return typeof text === 'string' && HASH_PATTERN.test(text);
}
