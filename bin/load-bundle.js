'use strict';
// Loads a bundle of dist/ through V8's code cache: compiling a bundle is a
// visible share of a call, and with the cache it is mostly a read. The
// cache is written next to the bundle when it is missing or stale (at build
// time, or on the first run after a Node upgrade); where that directory is
// read-only, the bundle is simply compiled each time. The CLI's launcher
// (dcache.js) and the library's entry (dist/index.cjs) load their bundles
// through it.
const { accessSync, constants, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
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

// Runs the bundle at `file` (its text `source`, if already read) as a
// CommonJS module, and returns its exports.
function loadBundle(file, source = readFileSync(file, 'utf8')) {
  const script = compile(file, source);
  const bundle = { exports: {} };
  script.runInThisContext().call(bundle.exports, bundle.exports, requireFrom(file), bundle, file, dirname(file));
  return bundle.exports;
}

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
    const path = join(dirname(parent), id);
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

module.exports = { loadBundle };
