// Run by bench/lib/large-anatomy.js: the data path of a recording without
// the rest of dcache. Spawns `cat <file>` and passes its stdout through to
// ours with Node streams (as src/record.ts does), and by <mode>:
//   pass     nothing else
//   hash     also hashes every chunk with xxhash-wasm
//   file     also writes every chunk to <temp> through a WriteStream with a
//            1 MiB high-water mark, pausing the command's output when it is
//            full (as src/store/blob-writer.ts does)
//   fsync    the same, with flush: true (an fsync before the file closes)
// The runner deletes <temp> afterwards, untimed.
'use strict';
const { spawn } = require('node:child_process');
const { createWriteStream } = require('node:fs');

const [file, mode, temp] = process.argv.slice(2);

function run(hasher) {
  const state = hasher?.create64();
  const sink =
    mode === 'file' || mode === 'fsync'
      ? createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: mode === 'fsync', highWaterMark: 1 << 20 })
      : null;
  const child = spawn('cat', [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let waiting = 0;
  const wait = (stream) => {
    waiting += 1;
    child.stdout.pause();
    stream.once('drain', () => {
      waiting -= 1;
      if (waiting === 0) child.stdout.resume();
    });
  };
  child.stdout.on('data', (chunk) => {
    if (!process.stdout.write(chunk)) wait(process.stdout);
    state?.update(chunk);
    if (sink && !sink.write(chunk)) wait(sink);
  });
  child.stdout.on('end', () => {
    state?.digest();
    sink?.end();
  });
}

if (mode === 'pass') run(null);
else require('xxhash-wasm')().then(run);
