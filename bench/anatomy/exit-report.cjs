// Preloaded with `node -r` by bench/anatomy/ladder.js. Notes when user code
// starts and when the process is about to exit (ms since the process's time
// origin), and which built-in modules were loaded, into $BENCH_ANATOMY_OUT.
'use strict';
const { writeFileSync } = require('node:fs');
const { performance } = require('node:perf_hooks');

const preloadAt = performance.now();
process.on('exit', () => {
  const report = {
    preloadAt,
    exitAt: performance.now(),
    modules: process.moduleLoadList,
  };
  writeFileSync(process.env.BENCH_ANATOMY_OUT, JSON.stringify(report));
});
