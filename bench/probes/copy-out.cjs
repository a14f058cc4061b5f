// Run by bench/lib/large-anatomy.js: the least a Node process can do to
// replay a file, for comparison with a dcache hit. Reads <file> in 1 MiB
// chunks and writes each to stdout with blocking writes (as a replay does);
// with --xxhash it also hashes every chunk with xxhash-wasm, as a replay
// verifies a blob. No CLI, no manifest, no double buffering.
'use strict';
const { closeSync, openSync, readSync, writeSync } = require('node:fs');

const CHUNK = 1 << 20;
const [file, flag] = process.argv.slice(2);

function copy(hasher) {
  const state = hasher?.create64();
  const buffer = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(file, 'r');
  for (let n; (n = readSync(fd, buffer, 0, CHUNK, null)) > 0; ) {
    const chunk = buffer.subarray(0, n);
    state?.update(chunk);
    for (let off = 0; off < n; ) off += writeSync(1, chunk, off, n - off);
  }
  closeSync(fd);
  state?.digest();
}

if (flag === '--xxhash') require('xxhash-wasm')().then(copy);
else copy(null);
