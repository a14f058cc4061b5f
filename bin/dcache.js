#!/usr/bin/env node
'use strict';
// The command line: the bundle that `npm run build` writes to dist/, which
// `npm install` runs in a clone (the `prepare` script) and `npm pack` before
// packing. A call never builds: after a `git pull`, run `npm install` (or
// `npm run build`) again.
const { join } = require('node:path');
let launch;
try {
  launch = require('../dist/launch.cjs');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND') throw err;
  process.stderr.write(`dcache: dist/ is not built in ${join(__dirname, '..')}: run \`npm install\` or \`npm run build\` there\n`);
  process.exit(125);
}
launch.launchCli(join(__dirname, '..', 'dist', 'cli.cjs'));
