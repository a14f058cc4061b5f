// Run by bench/lib/large-anatomy.js: what a Node process needs to copy one
// file to another, for comparison with dcache restoring an output file (-o).
//   node copy-file.cjs <from> <to>            1 MiB reads and writes
//   node copy-file.cjs <from> <to> --xxhash   the same, hashing every chunk
//                                             with xxhash-wasm (as a restore
//                                             verifies the blob)
//   node copy-file.cjs <from> <to> --kernel   fs.copyFileSync: libuv copies
//                                             inside the kernel where it can
//                                             (copy_file_range on Linux)
'use strict';
const { closeSync, copyFileSync, openSync, readSync, writeSync } = require('node:fs');

const CHUNK = 1 << 20;
const [from, to, flag] = process.argv.slice(2);

function copy(hasher) {
  const state = hasher?.create64();
  const buffer = Buffer.allocUnsafe(CHUNK);
  const input = openSync(from, 'r');
  const output = openSync(to, 'wx', 0o600);
  for (let n; (n = readSync(input, buffer, 0, CHUNK, null)) > 0; ) {
    const chunk = buffer.subarray(0, n);
    state?.update(chunk);
    for (let off = 0; off < n; ) off += writeSync(output, chunk, off, n - off);
  }
  closeSync(input);
  closeSync(output);
  state?.digest();
}

if (flag === '--kernel') copyFileSync(from, to);
else if (flag === '--xxhash') require('xxhash-wasm')().then(copy);
else copy(null);
