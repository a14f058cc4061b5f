import { accessSync, constants, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

// A V8 code cache of a bundle of dist/, for the Nodes that have no compile
// cache of their own (module.enableCompileCache(), Node 22.8 and later):
// there, compiling the CLI's bundle is a fifth of a hit (measured in
// BENCHMARKS.md), and with the cache it is mostly a read. The cache is
// written beside the bundle when it is missing or stale, at the exit of the
// process that compiled the bundle, so that it also holds the functions
// that process ran; where that directory is read-only, the bundle is
// compiled each time.
//
// V8 checks of a cache only its own version, its flags and the source's
// length, and a damaged cache behind a sound header makes the process abort.
// So the file starts with a line of our own holding the SHA-256 of the
// source it was made from and of the cache bytes that follow, and its name
// carries the V8 version and the flags it was made under (processes started
// with other flags would otherwise reject and rewrite each other's).
const CACHE_MAGIC = 'dcache-code-cache-1';
const CACHE_HEADER_BYTES = CACHE_MAGIC.length + 1 + 64 + 1 + 64 + 1;
// a cache of another tag unwritten for this long, or a temp file this old, is
// removed when a cache of the same bundle is written
export const CACHE_UNUSED_MS = 30 * 24 * 3600 * 1000;
export const CACHE_TEMP_STALE_MS = 3600 * 1000;

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

// The name of the cache of the bundle `file` for this V8, architecture and
// set of flags.
export function codeCachePath(file: string): string {
  const tag = sha256(`${process.versions.v8} ${process.arch} ${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`).slice(0, 12);
  return `${file}.${tag}.cache`;
}

// The cache bytes at `path` if they were made from `text` and are whole;
// undefined otherwise (none, another format, stale, torn, damaged).
export function readCodeCache(path: string, text: string): Buffer | undefined {
  let bytes: Buffer;
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

// Writes `data`, V8's cache of `text`, to `path`: whole (a temp file of this
// process alone, renamed) or not at all. Old caches of other tags and temp
// files of killed writers beside it go (see removeOldCaches).
export function writeCodeCache(path: string, text: string, data: Buffer, now = Date.now()): void {
  let temp: string | null = null;
  try {
    removeOldCaches(path, now);
    temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temp, Buffer.concat([Buffer.from(`${CACHE_MAGIC} ${sha256(text)} ${sha256(data)}\n`, 'latin1'), data]), { flag: 'wx', mode: 0o644 });
    renameSync(temp, path);
  } catch {
    // a cache is only an optimisation: the next run compiles and tries again
    if (temp !== null) rmSync(temp, { force: true });
  }
}

// Other Node versions and flags leave caches of their own beside `path`,
// and a writer killed before its rename a temp file: those no process has
// written for a long while go (one still in use is written again by the
// next run that needs it).
function removeOldCaches(path: string, now: number): void {
  const dir = dirname(path);
  const bundle = path.slice(dir.length + 1).split('.cjs.')[0];
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

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// Compiles the bundle `file` (its text `text`) through its code cache when
// that is sound; when there was none, or V8 turned it down, the cache is
// written as the process ends.
function compile(file: string, text: string): Script {
  const path = codeCachePath(file);
  const cachedData = readCodeCache(path, text);
  const script = new Script(Module.wrap(text), { filename: file, cachedData });
  if ((cachedData === undefined || script.cachedDataRejected === true) && writable(dirname(file))) {
    process.once('beforeExit', () => writeCodeCache(path, text, script.createCachedData()));
  }
  return script;
}

interface LoadedModule {
  exports: unknown;
}

// Runs the bundle `file` as a CommonJS module through its code cache, and
// returns its exports. The packages it requires from files beside it
// (./execa.cjs, ./ioredis.cjs: loaded only by the calls that need them) go
// through caches of their own, as each is compiled anew in every process
// otherwise (execa about 20 ms of a miss).
export function loadWithCodeCache(file: string, loaded = new Map<string, LoadedModule>()): unknown {
  let module = loaded.get(file);
  if (module !== undefined) return module.exports;
  module = { exports: {} };
  loaded.set(file, module);
  try {
    const plain = Module.createRequire(file);
    const sibling = (id: string) => (id.startsWith('./') && id.endsWith('.cjs') ? loadWithCodeCache(join(dirname(file), id), loaded) : plain(id));
    const run = compile(file, readFileSync(file, 'utf8')).runInThisContext() as (...args: unknown[]) => void;
    run.call(module.exports, module.exports, Object.assign(sibling, plain), module, file, dirname(file));
  } catch (err) {
    // as require() does: the next require of it tries again
    loaded.delete(file);
    throw err;
  }
  return module.exports;
}
