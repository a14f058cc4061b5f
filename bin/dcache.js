#!/usr/bin/env node
'use strict';
// Loads the bundled CLI through V8's code cache: compiling the bundle is a
// visible share of a hit, and with the cache it is mostly a read. The cache
// is written next to the bundle when it is missing or stale (at build time,
// or on the first run after a Node upgrade); where that directory is
// read-only, the bundle is simply compiled each time.
const { accessSync, constants, existsSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const Module = require('node:module');
const { Script } = require('node:vm');

const dist = join(__dirname, '..', 'dist');
const file = join(dist, 'cli.cjs');
const cacheFile = `${file}.cache`;
// held (a directory, made atomically) while a first run builds dist/
const buildLock = join(__dirname, '..', 'dist.building');
// a lock older than this was left by a build that died
const BUILD_LOCK_STALE_MS = 10 * 60 * 1000;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
let source;
try {
  // (a first run in a clone may be building dist/ right now: wait for it)
  if (existsSync(buildLock)) waitForBuild();
  source = readFileSync(file, 'utf8');
} catch (err) {
  source = buildOnce(err);
}
const script = new Script(Module.wrap(source), { filename: file, cachedData });
if ((cachedData === undefined || script.cachedDataRejected) && writable(dist)) writeCacheAtExit(script, cacheFile);
const cli = { exports: {} };
script.runInThisContext().call(cli.exports, cli.exports, requireFrom(file), cli, file, dist);

// Whether this process may write in `dir` (a system-wide install: no, and
// building a cache that cannot be written costs a few ms).
function writable(dir) {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// Writes a script's code cache once the run is over, so that it also holds
// the functions the run compiled; written whole (a temp file, renamed).
function writeCacheAtExit(compiled, path) {
  process.once('beforeExit', () => {
    const temp = `${path}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, compiled.createCachedData());
      renameSync(temp, path);
    } catch {
      rmSync(temp, { force: true });
    }
  });
}

// The require() the bundle is given. The packages it loads only when a
// call needs them, dist/<package>.cjs (execa to run a command, ioredis for
// a Redis remote, ...), go through a code cache of their own as well,
// written on first use: each is compiled anew in every process otherwise
// (execa about 20 ms of a miss, ioredis about 15 ms of a call to Redis).
function requireFrom(parent) {
  const plain = Module.createRequire(parent);
  const loaded = new Map();
  return Object.assign((id) => {
    if (!(id.startsWith('./') && id.endsWith('.cjs'))) return plain(id);
    const path = join(dist, id);
    let module = loaded.get(path);
    if (module === undefined) {
      module = { exports: {} };
      loaded.set(path, module);
      try {
        const code = `${path}.cache`;
        let data;
        try {
          data = readFileSync(code);
        } catch {
          data = undefined;
        }
        const bundle = new Script(Module.wrap(readFileSync(path, 'utf8')), { filename: path, cachedData: data });
        if ((data === undefined || bundle.cachedDataRejected) && writable(dirname(path))) writeCacheAtExit(bundle, code);
        bundle.runInThisContext().call(module.exports, module.exports, Module.createRequire(path), module, path, dirname(path));
      } catch (err) {
        // as require() does: the next require of it tries again
        loaded.delete(path);
        throw err;
      }
    }
    return module.exports;
  }, plain);
}

// A clone of the repository has no dist/ until it is built: the package
// carries no install script (npm asks users to approve those), so the first
// run in a clone builds it with the project's own build script. An
// installed package ships dist/ and never gets here.
// Two first runs at once (make -j8 in a fresh clone) build it once: the
// first takes the lock and builds, the others wait for it and use its dist/.
function buildOnce(err) {
  const { mkdirSync } = require('node:fs');
  const { spawnSync } = require('node:child_process');
  const root = join(__dirname, '..');
  const script = join(root, 'scripts', 'build.js');
  if (err.code !== 'ENOENT' || !existsSync(script) || !existsSync(join(root, 'node_modules', 'esbuild'))) throw err;
  for (;;) {
    try {
      mkdirSync(buildLock);
      writeFileSync(join(buildLock, 'pid'), String(process.pid));
      break;
    } catch (lockErr) {
      if (lockErr.code !== 'EEXIST') throw lockErr;
    }
    waitForBuild();
    if (existsSync(file)) return readFileSync(file, 'utf8');
  }
  try {
    process.stderr.write('dcache: building dist/ (the first run in a clone of the repository)\n');
    const built = spawnSync(process.execPath, [script], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    rmSync(buildLock, { recursive: true, force: true });
    if (built.status !== 0) {
      process.stderr.write('dcache: the build failed; run `npm run build` to see why\n');
      process.exit(125);
    }
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(buildLock, { recursive: true, force: true });
  }
}

// Waits while another first run holds the build lock; removes a lock whose
// builder is gone (interrupted, killed) or that is too old to be a build.
function waitForBuild() {
  const { statSync } = require('node:fs');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let lock;
    try {
      lock = statSync(buildLock);
    } catch {
      return;
    }
    if (Date.now() - lock.mtimeMs > BUILD_LOCK_STALE_MS || builderGone()) {
      breakLock(lock.ino);
      return;
    }
    Atomics.wait(pause, 0, 0, 100);
  }
}

// Removes the stale lock `ino`, and only it: two waiters may judge it stale
// at once, and the first may already have taken a new lock by the same
// name. The lock is moved aside first (one rename wins); a lock moved aside
// that is not the stale one is put back.
function breakLock(ino) {
  const { statSync } = require('node:fs');
  const aside = `${buildLock}.stale.${process.pid}`;
  try {
    renameSync(buildLock, aside);
  } catch {
    return;
  }
  if (statSync(aside).ino === ino) {
    rmSync(aside, { recursive: true, force: true });
    return;
  }
  try {
    renameSync(aside, buildLock);
  } catch {
    // a third run took the name meanwhile: this live lock's build goes on,
    // and its dist/ is still checked for by every waiter
    rmSync(aside, { recursive: true, force: true });
  }
}

function builderGone() {
  let pid;
  try {
    pid = Number(readFileSync(join(buildLock, 'pid'), 'utf8'));
  } catch {
    // not written yet
    return false;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return err.code === 'ESRCH';
  }
}
