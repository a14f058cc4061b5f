import { accessSync, closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type BigIntStats } from 'node:fs';
import type { Hash } from 'node:crypto';
import { createRequire, wrap } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { HOT_PATH_EVENT } from '../core/hot-path.js';

// A V8 code cache of a bundle of dist/ (why ours, not Node's: launch.ts):
// compiling the CLI's bundle is a large share of a hit, and with the cache
// it is mostly a read. The cache is
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
//
// Hashing half a megabyte costs a call more than it saves, with the loading
// of node:crypto (which the bundle, built with lazy built-ins, does not load
// on a hit otherwise): so a seal beside the cache (<cache>.seal) holds the
// stamps of the bundle and of the cache files (device, inode, size, mtime,
// ctime, in ns) as they were when the cache was written or last verified.
// While both files are as sealed, the cache is used unhashed: a write to
// either changes its ctime, which no one can set back, and a replacement is
// another inode. A seal counts only if both ctimes are older than the seal's
// own mtime (a change in the same tick of the file system's clock would not
// show; see src/store/local/check-marks.ts for the same rule). Anything else
// (no seal, a changed file, a cache shipped in the package) is verified by
// SHA-256 as before, and sealed when that passes where the folder is
// writable.
//
// What a cache holds is what the process that made it had compiled: the
// first process to find none writes it, and if that was a miss, the replay
// code is not in it. So the header also says whether its maker took the hot
// path (a hit: src/core/hot-path.ts), and the first hit to load a cache made
// by another kind of process writes it again, as it compiled it.
const CACHE_MAGIC = 'dcache-code-cache-2';
const HOT = 'h';
const OTHER = 'o';
const CACHE_HEADER_BYTES = CACHE_MAGIC.length + 1 + 1 + 1 + 64 + 1 + 64 + 1;
// a cache of another tag unwritten for this long, or a temp file this old, is
// removed when a cache of the same bundle is written
export const CACHE_UNUSED_MS = 30 * 24 * 3600 * 1000;
export const CACHE_TEMP_STALE_MS = 3600 * 1000;

// node:crypto, required on first use: loading it takes 3 to 5 ms, and a
// sealed cache needs none of it. (This file is bundled on its own, with
// plain requires: see scripts/build.js.)
const sha256 = (data: string | Uint8Array) => {
  const { createHash } = createRequire('/')('node:crypto') as { createHash(algorithm: string): Hash };
  return createHash('sha256').update(data).digest('hex');
};

// FNV-1a, 32 bits, of a short string: names, never checks.
function fnv1a(text: string, seed: number): string {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

// The name of the cache of the bundle `file` for this V8, architecture and
// set of flags.
export function codeCachePath(file: string): string {
  const flags = `${process.versions.v8} ${process.arch} ${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  return `${file}.${(fnv1a(flags, 0x811c9dc5) + fnv1a(flags, 0x2f1e3d5b)).slice(0, 12)}.cache`;
}

interface Stamp {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

const stampOf = (st: BigIntStats): Stamp => ({ dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs });
const stampText = (s: Stamp) => `${s.dev} ${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs}`;

function statOrNull(path: string): Stamp | null {
  try {
    return stampOf(statSync(path, { bigint: true }));
  } catch {
    return null;
  }
}

// Whether the seal of the cache at `path` says that the bundle (`bundle`,
// as stamped when its text was read) and the cache (`cache`, as stamped
// when its bytes were read) are as they were when the cache was sealed.
function sealHolds(path: string, bundle: Stamp, cache: Stamp): boolean {
  try {
    const seal = `${path}.seal`;
    const text = readFileSync(seal, 'latin1');
    const sealedAt = statSync(seal, { bigint: true }).mtimeNs;
    return text === `${CACHE_MAGIC} ${stampText(bundle)} ${stampText(cache)}\n` && bundle.ctimeNs < sealedAt && cache.ctimeNs < sealedAt;
  } catch {
    return false;
  }
}

// Seals the cache at `path` of the bundle `file` as both files are now (a
// temp file, renamed). Never fails: without a seal, the next run verifies.
function seal(path: string, file: string): void {
  const temp = `${path}.seal.${process.pid}.tmp`;
  try {
    const bundle = statOrNull(file);
    const cache = statOrNull(path);
    if (bundle === null || cache === null) return;
    writeFileSync(temp, `${CACHE_MAGIC} ${stampText(bundle)} ${stampText(cache)}\n`, { mode: 0o644 });
    renameSync(temp, `${path}.seal`);
  } catch {
    rmSync(temp, { force: true });
  }
}

// The text of the bundle `file` and its stamp as it was read.
export function readBundle(file: string): { text: string; stamp: Stamp } {
  const fd = openSync(file, 'r');
  try {
    return { text: readFileSync(fd, 'utf8'), stamp: stampOf(fstatSync(fd, { bigint: true })) };
  } finally {
    closeSync(fd);
  }
}

// A cache's bytes for V8, and whether the process that made it took the
// hot path.
export interface CodeCache {
  data: Buffer;
  hot: boolean;
}

// The header's mark of how the cache's maker ran.
const madeHot = (bytes: Buffer) => bytes.toString('latin1', CACHE_MAGIC.length + 1, CACHE_MAGIC.length + 2) === HOT;

// The cache at `path` for the bundle `file` (its text and stamp), if it
// was made from it and is whole; undefined otherwise. Sealed and
// unchanged: taken as it is; else verified by SHA-256, and sealed if
// sound and `mayWrite`.
export function readSealedCodeCache(path: string, file: string, bundle: { text: string; stamp: Stamp }, mayWrite: boolean): CodeCache | undefined {
  let bytes: Buffer;
  let stamp: Stamp;
  try {
    const fd = openSync(path, 'r');
    try {
      bytes = readFileSync(fd);
      stamp = stampOf(fstatSync(fd, { bigint: true }));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  if (bytes.length <= CACHE_HEADER_BYTES) return undefined;
  if (sealHolds(path, bundle.stamp, stamp)) return { data: bytes.subarray(CACHE_HEADER_BYTES), hot: madeHot(bytes) };
  const cache = readCodeCache(path, bundle.text, bytes);
  if (cache !== undefined && mayWrite) seal(path, file);
  return cache;
}

// The cache at `path` if it was made from `text` and is whole; undefined
// otherwise (none, another format, stale, torn, damaged).
export function readCodeCache(path: string, text: string, read?: Buffer): CodeCache | undefined {
  let bytes: Buffer;
  try {
    bytes = read ?? readFileSync(path);
  } catch {
    return undefined;
  }
  if (bytes.length <= CACHE_HEADER_BYTES) return undefined;
  const [magic, maker, sourceHash, dataHash] = bytes.subarray(0, CACHE_HEADER_BYTES - 1).toString('latin1').split(' ');
  if (magic !== CACHE_MAGIC || (maker !== HOT && maker !== OTHER) || bytes[CACHE_HEADER_BYTES - 1] !== 0x0a) return undefined;
  const data = bytes.subarray(CACHE_HEADER_BYTES);
  return sourceHash === sha256(text) && dataHash === sha256(data) ? { data, hot: maker === HOT } : undefined;
}

// Writes `data`, V8's cache of `text`, to `path`, made by a process that
// took the hot path or not (`hot`): whole (a temp file of this process
// alone, renamed) or not at all. Old caches of other tags and temp files of
// killed writers beside it go (see removeOldCaches).
export function writeCodeCache(path: string, text: string, data: Buffer, now = Date.now(), file?: string, hot = false): void {
  let temp: string | null = null;
  try {
    removeOldCaches(path, now);
    temp = `${path}.${process.pid}.${(now % 0xffffffffffff).toString(16).padStart(12, '0')}.tmp`;
    writeFileSync(temp, Buffer.concat([Buffer.from(`${CACHE_MAGIC} ${hot ? HOT : OTHER} ${sha256(text)} ${sha256(data)}\n`, 'latin1'), data]), { flag: 'wx', mode: 0o644 });
    renameSync(temp, path);
    if (file !== undefined) seal(path, file);
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
    if (!temp && !name.endsWith('.cache') && !name.endsWith('.cache.seal')) continue;
    const other = join(dir, name);
    if (other === path || other === `${path}.seal`) continue;
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
// that is sound. The cache is written as the process ends when there was
// none or V8 turned it down, and when it was made by a process that did not
// take the hot path and this one did.
function compile(file: string): Script {
  const path = codeCachePath(file);
  const bundle = readBundle(file);
  const mayWrite = writable(dirname(file));
  const cache = readSealedCodeCache(path, file, bundle, mayWrite);
  const script = new Script(wrap(bundle.text), { filename: file, cachedData: cache?.data });
  if (!mayWrite || cache?.hot === true && script.cachedDataRejected !== true) return script;
  const missing = cache === undefined || script.cachedDataRejected === true;
  let hot = false;
  const onHotPath = () => {
    hot = true;
  };
  process.once(HOT_PATH_EVENT, onHotPath);
  process.once('beforeExit', () => {
    process.removeListener(HOT_PATH_EVENT, onHotPath);
    if (missing || hot) writeCodeCache(path, bundle.text, script.createCachedData(), Date.now(), file, hot);
  });
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
    const plain = createRequire(file);
    const sibling = (id: string) => (id.startsWith('./') && id.endsWith('.cjs') ? loadWithCodeCache(join(dirname(file), id), loaded) : plain(id));
    const run = compile(file).runInThisContext() as (...args: unknown[]) => void;
    run.call(module.exports, module.exports, Object.assign(sibling, plain), module, file, dirname(file));
  } catch (err) {
    // as require() does: the next require of it tries again
    loaded.delete(file);
    throw err;
  }
  return module.exports;
}
