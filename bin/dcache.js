#!/usr/bin/env node
'use strict';
// Loads the bundled CLI through V8's code cache: compiling the bundle is a
// visible share of a hit, and with the cache it is mostly a read. The cache
// is written next to the bundle when it is missing or stale (at build time,
// or on the first run after a Node upgrade); where that directory is
// read-only, the bundle is simply compiled each time.
const { readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const Module = require('node:module');
const { Script } = require('node:vm');

const dist = join(__dirname, '..', 'dist');
const file = join(dist, 'cli.cjs');
const cacheFile = `${file}.cache`;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  // After the run, so the cache also holds the functions the run compiled.
  process.once('beforeExit', () => {
    const temp = `${cacheFile}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, script.createCachedData());
      renameSync(temp, cacheFile);
    } catch {
      rmSync(temp, { force: true });
    }
  });
}
const cli = { exports: {} };
script.runInThisContext().call(cli.exports, cli.exports, Module.createRequire(file), cli, file, dist);
