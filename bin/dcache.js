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
const { createHash, randomBytes } = require('node:crypto');

// A code cache is V8's, checked here before V8 sees it: V8 itself checks
// only its own version, its flags and the source's length, and a damaged
// cache behind a sound header makes the process abort, every run. So the
// file starts with a line of our own holding the SHA-256 of the source it
// was made from and of the cache bytes that follow, and its name carries
// the V8 version and the flags it was made under (processes started with
// other flags would otherwise reject and rewrite each other's).
const CACHE_MAGIC = 'dcache-code-cache-1';
const CACHE_HEADER_BYTES = CACHE_MAGIC.length + 1 + 64 + 1 + 64 + 1;
const cacheTag = sha256(`${process.versions.v8} ${process.arch} ${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`).slice(0, 12);
// a cache of another tag unwritten for this long, or a temp file this old, is
// removed when a cache of the same bundle is written
const CACHE_UNUSED_MS = 30 * 24 * 3600 * 1000;
const CACHE_TEMP_STALE_MS = 3600 * 1000;

const dist = join(__dirname, '..', 'dist');
const file = join(dist, 'cli.cjs');
// held (a directory, made atomically) while a first run builds dist/
const buildLock = join(__dirname, '..', 'dist.building');
// a lock older than this was left by a build that died
const BUILD_LOCK_STALE_MS = 10 * 60 * 1000;
// set, to the lock's path, in the environment of the build a first run starts
const BUILDING = 'DCACHE_BUILDING_UNDER_LOCK';
let source;
try {
  // (a first run in a clone may be building dist/ right now: wait for it,
  // unless this process is that build's own, which runs the CLI once it is
  // built to warm its code cache, and would otherwise wait for itself)
  if (existsSync(buildLock) && process.env[BUILDING] !== buildLock) waitForBuild();
  source = readFileSync(file, 'utf8');
} catch (err) {
  source = buildOnce(err);
}
const script = compile(file, source);
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

function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

// Compiles a bundle through its code cache when that is sound, and has
// the cache written at exit when there was none or V8 turned it down.
function compile(path, text) {
  const cachePath = `${path}.${cacheTag}.cache`;
  const cachedData = readCache(cachePath, text);
  const compiled = new Script(Module.wrap(text), { filename: path, cachedData });
  if ((cachedData === undefined || compiled.cachedDataRejected) && writable(dirname(path))) writeCacheAtExit(compiled, cachePath, text);
  return compiled;
}

// The cache bytes of `path` if it was made from `text` and is whole;
// undefined otherwise (none, another format, stale, torn, damaged).
function readCache(path, text) {
  let bytes;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  if (bytes.length <= CACHE_HEADER_BYTES) return undefined;
  const [magic, sourceHash, dataHash] = bytes.subarray(0, CACHE_HEADER_BYTES - 1).toString('latin1').split(' ');
  if (magic !== CACHE_MAGIC || bytes[CACHE_HEADER_BYTES - 1] !== 0x0a) return undefined;
  const data = bytes.subarray(CACHE_HEADER_BYTES);
  return sourceHash === sha256(text) && dataHash === sha256(data) ? data : undefined;
}

// Writes a script's code cache once the run is over, so that it also holds
// the functions the run compiled; written whole (a temp file of this
// process alone, renamed), and checked when read, so that a torn or
// damaged file is only a cache miss.
function writeCacheAtExit(compiled, path, text) {
  process.once('beforeExit', () => {
    let temp = null;
    try {
      removeOldCaches(path);
      temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      const data = compiled.createCachedData();
      writeFileSync(temp, Buffer.concat([Buffer.from(`${CACHE_MAGIC} ${sha256(text)} ${sha256(data)}\n`, 'latin1'), data]), { flag: 'wx', mode: 0o644 });
      renameSync(temp, path);
    } catch {
      if (temp !== null) rmSync(temp, { force: true });
    }
  });
}

// Other Node versions and flags leave caches of their own beside `path`,
// and a writer killed before its rename a temp file: those no process has
// written for a long while go (one still in use is written again by the
// next run that needs it).
function removeOldCaches(path) {
  const { readdirSync, statSync } = require('node:fs');
  const dir = dirname(path);
  const bundle = path.slice(dir.length + 1).split('.cjs.')[0];
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${bundle}.cjs.`)) continue;
    const temp = name.endsWith('.tmp');
    if (!temp && !name.endsWith('.cache')) continue;
    const other = join(dir, name);
    if (other === path) continue;
    try {
      if (now - statSync(other).mtimeMs > (temp ? CACHE_TEMP_STALE_MS : CACHE_UNUSED_MS)) rmSync(other, { force: true });
    } catch {
      // gone meanwhile
    }
  }
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
        const bundle = compile(path, readFileSync(path, 'utf8'));
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
    const built = spawnSync(process.execPath, [script], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, [BUILDING]: buildLock },
    });
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
