import { loadWithCodeCache } from './code-cache.js';

// The entry of dist/launch.cjs, through which bin/dcache.js and the
// library's entry (dist/index.cjs) load their bundles. Compiling a bundle is
// a visible share of a hit, so each goes through a code cache of ours
// (code-cache.ts), kept beside it in dist/. Not Node's own compile cache
// (module.enableCompileCache(), Node 22.8 and later), by measurement: Node
// writes its cache right after compiling, so it holds the bundle's top level
// only (85 KB of 230 KB here) and a hit compiles every function it runs
// anew, where ours is written as the first process ends and holds them. A 1
// KB hit against `node -e 0`, alternated runs, medians (BENCHMARKS.md):
// Node 24 1.67x with Node's, 1.43x with ours; Node 22 1.64x against 1.42x.
// Nothing here builds: dist/ is built before it is packed or run (`npm run
// build`, run by `prepare`).

// Runs the CLI's bundle `file`.
export function launchCli(file: string): void {
  loadWithCodeCache(file);
}

// The exports of the library's bundle `file`.
export function loadLibrary(file: string): unknown {
  return loadWithCodeCache(file);
}
