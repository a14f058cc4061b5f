// XXH64 (xxHash, 64 bits, seed 0), as specified in xxHash's
// doc/xxhash_spec.md, over the small texts that name entries (their key
// material: a few hundred bytes).
//
// In TypeScript rather than xxhash-wasm, by measurement: compiling and
// instantiating that WebAssembly module cost 0.5 to 0.8 ms of every
// process, and its first call 0.2 ms more, where this hashes a key in tens
// of microseconds. The registry's pure-JS XXH64 packages were not ones to
// depend on (one's streaming update reads a field that does not exist).
// test/unit/core/xxh64.test.ts holds it to xxhash-wasm over generated input.

const MASK = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & MASK;

function round(acc: bigint, lane: bigint): bigint {
  return (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
}

function merge(acc: bigint, v: bigint): bigint {
  return (((acc ^ round(0n, v)) * P1 + P4) & MASK);
}

// The XXH64 of `bytes` with seed 0, as an unsigned 64-bit integer.
export function xxh64(bytes: Uint8Array): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = bytes.byteLength;
  let p = 0;
  let h: bigint;
  if (length >= 32) {
    let v1 = (P1 + P2) & MASK;
    let v2 = P2;
    let v3 = 0n;
    let v4 = (-P1) & MASK;
    for (; p + 32 <= length; p += 32) {
      v1 = round(v1, view.getBigUint64(p, true));
      v2 = round(v2, view.getBigUint64(p + 8, true));
      v3 = round(v3, view.getBigUint64(p + 16, true));
      v4 = round(v4, view.getBigUint64(p + 24, true));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK;
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = P5;
  }
  h = (h + BigInt(length)) & MASK;
  for (; p + 8 <= length; p += 8) h = ((rotl(h ^ round(0n, view.getBigUint64(p, true)), 27n) * P1 + P4) & MASK);
  if (p + 4 <= length) {
    h = ((rotl(h ^ ((BigInt(view.getUint32(p, true)) * P1) & MASK), 23n) * P2 + P3) & MASK);
    p += 4;
  }
  for (; p < length; p++) h = (rotl(h ^ ((BigInt(bytes[p]!) * P5) & MASK), 11n) * P1) & MASK;
  h = ((h ^ (h >> 33n)) * P2) & MASK;
  h = ((h ^ (h >> 29n)) * P3) & MASK;
  return h ^ (h >> 32n);
}
