import xxhash from 'xxhash-wasm';

// Bundled by bench/lib/bundles.js the way the CLI is bundled: what loading
// xxhash-wasm, compiling its WebAssembly and hashing 1 KB costs, without the
// rest of dcache. No top-level await, so that it bundles to CommonJS as well.
xxhash().then((hasher) => {
  hasher.h64Raw(new Uint8Array(1024));
});
