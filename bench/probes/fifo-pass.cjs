// Run by bench/lib/large-anatomy.js: another way to pass a command's output
// through, tried against Node streams. `cat <file>` writes into the FIFO
// <fifo> (made by the runner); this process reads it with blocking 1 MiB
// reads and writes each chunk to stdout with blocking writes: no event loop,
// no socket, no stream machinery on the way.
'use strict';
const { spawn } = require('node:child_process');
const { closeSync, openSync, readSync, writeSync } = require('node:fs');

const CHUNK = 1 << 20;
const [file, fifo] = process.argv.slice(2);

// Opened read-write first, so that neither open blocks; our copy of the
// write end is closed once cat has its own, so that EOF comes when cat exits.
const writeEnd = openSync(fifo, 'r+');
const readEnd = openSync(fifo, 'r');
spawn('cat', [file], { stdio: ['ignore', writeEnd, 'inherit'] });
closeSync(writeEnd);
const buffer = Buffer.allocUnsafe(CHUNK);
for (let n; (n = readSync(readEnd, buffer, 0, CHUNK, null)) > 0; ) {
  for (let off = 0; off < n; ) off += writeSync(1, buffer, off, n - off);
}
closeSync(readEnd);
