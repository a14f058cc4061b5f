import Module from 'node:module';

// The entry of dist/launch.cjs, through which bin/dcache.js and the
// library's entry (dist/index.cjs) load their bundles. Compiling a bundle is
// a visible share of a hit: where Node keeps a compile cache of its own
// (module.enableCompileCache(), Node 22.8 and later) it is used, and
// elsewhere (Node 20) the bundle goes through a code cache of ours
// (code-cache.ts). Nothing here builds: dist/ is built before it is packed
// or run (`npm run build`, run by `prepare`).

const { enableCompileCache } = Module as { enableCompileCache?: () => unknown };

// Our code cache, required only on a Node that needs it: it loads node:crypto
// and node:vm, which a hit on a later Node does not. (A require, which the
// bundler keeps lazy, where an import would run at the start of the bundle.)
const loadWithCodeCache = (file: string): unknown => (require('./code-cache.js') as typeof import('./code-cache.js')).loadWithCodeCache(file);

// Runs the CLI's bundle `file`. Node's compile cache is enabled for the
// whole process, which is dcache's own: it lives in the temp directory
// (NODE_COMPILE_CACHE chooses another, NODE_DISABLE_COMPILE_CACHE=1 turns it
// off) and checks what it reads, so a damaged cache is only a slower start.
export function launchCli(file: string): void {
  if (enableCompileCache === undefined) {
    loadWithCodeCache(file);
    return;
  }
  enableCompileCache();
  Module.createRequire(file)(file);
}

// The exports of the library's bundle `file`. A program that imports the
// library owns its process, so the library does not turn Node's compile
// cache on for it (a program can, with NODE_COMPILE_CACHE or
// module.enableCompileCache(), and the library's bundle is then cached with
// the rest); on a Node without one, the bundle goes through our code cache.
export function loadLibrary(file: string): unknown {
  return enableCompileCache === undefined ? loadWithCodeCache(file) : Module.createRequire(file)(file);
}
