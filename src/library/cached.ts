import { createHash } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { processHost } from '../cli/process-host.js';
import { checkSettings, loadSettings } from '../cli/settings.js';
import { prepareCall, type Call, type CallBase, type CallOptions } from '../engine/call.js';
import { getOrRecord, type EngineDeps, type EntryContent, type Production, type Recipe, type Replayed } from '../engine/get-or-record.js';
import type { Reporter } from '../engine/reporter.js';
import { lockHolder } from '../engine/single-flight.js';
import type { OpenBlobs } from '../engine/tiers.js';
import { describeError } from '../errors.js';
import { displayHash, loadHasher, type BlobHash } from '../hash.js';
import type { Interrupts } from '../process/signals.js';
import { deriveKey, KEY_FORMAT, type FunctionMaterial } from '../schema/key.js';
import type { Manifest } from '../schema/manifest.js';
import type { LocalStore } from '../store/local/local-store.js';
import { RemoteSession } from '../store/remote/session.js';
import { ACCEPTED, argumentsDigest, unstorable } from './arguments.js';
import { decodeValue, encodeThrown, encodeValue } from './value.js';

// The library: cached(fn, options) is fn with its results kept on disk, in
// the same cache, under the same policies, sources, remotes and guarantees
// as `dcache run`. The engine does the work; this file is its second front
// end: the key from the function and its arguments, the value as a blob.

export interface CachedOptions {
  // one or several policies, as --policy (default: the config's, else daily)
  policy?: string | string[];
  // the zone of calendar policies, as --tz
  tz?: string;
  // sources whose change makes an entry stale, as --watch: paths, globs,
  // http(s)://, s3://, gs://, az:// URLs
  watch?: string | string[];
  // probe commands, as --watch-cmd
  watchCmd?: string | string[];
  // the cache directory, as --dir
  dir?: string;
  // the shared cache, as --remote
  remote?: string;
  // a namespace mixed into the key, as --key
  key?: string;
  // as --stale-while-revalidate: a recently stale value is returned at once
  // and refreshed in the background of this process
  staleWhileRevalidate?: string;
  // keep a thrown error too, and throw it again while it is fresh
  cacheErrors?: boolean;
  // the time, for tests (default: DCACHE_NOW, else the clock)
  now?: () => Date | number;
  // the name under which entries are kept and listed (default: fn.name)
  name?: string;
}

// What a cached function returns: its promise's value.
export type CachedFunction<A extends unknown[], R> = (...args: A) => Promise<Awaited<R>>;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

// Wraps `fn`: each call with the same arguments (and the same source text
// of `fn`) is answered from the cache while the policies say it is fresh.
export function cached<A extends unknown[], R>(fn: (...args: A) => R, options: CachedOptions = {}): CachedFunction<A, R> {
  if (typeof fn !== 'function') throw new TypeError(`cached(): the first argument must be a function, not ${typeof fn}`);
  const name = options.name ?? fn.name;
  if (name === '') throw new TypeError('cached(): the function has no name; give it one, or pass options.name');
  const source = createHash('sha256').update(fn.toString()).digest('hex');
  const reporter = libraryReporter();
  const wrapped = async (...args: A): Promise<Awaited<R>> => {
    const argsHash = argumentsDigest(name, args);
    const { base, namespace } = await prepare(name, options, reporter);
    const material: FunctionMaterial = { kind: 'function', format: KEY_FORMAT, name, source, args: argsHash, namespace };
    const call: Call = { ...base, key: deriveKey(await loadHasher(), material), material };
    const store = base.store;
    const recipe = functionRecipe(name, fn, args, store, reporter, options.cacheErrors === true);
    const deps: EngineDeps = {
      reporter,
      interrupts: NO_INTERRUPTS,
      openShared: (spec) => new RemoteSession(spec, process.env, call.signing, reporter, store),
      // the refresh of --stale-while-revalidate runs here, in the background
      startRefresh: async () => {
        void refresh({ ...call, refreshing: true }, recipe, { ...deps, startRefresh: undefined });
        return process.pid;
      },
    };
    const outcome = await getOrRecord(call, recipe, deps);
    // a replay that broke half-way cannot happen here (a value is read whole
    // before it is used); should it, the function answers
    const result: Outcome = outcome.ok ? outcome.result : await run(fn, args);
    if (!result.ok) throw result.error;
    return result.value as Awaited<R>;
  };
  Object.defineProperty(wrapped, 'name', { value: name });
  return wrapped;
}

async function refresh(call: Call, recipe: Recipe<Outcome>, deps: EngineDeps): Promise<void> {
  try {
    if ((await lockHolder(call)) !== null) return;
    await getOrRecord(call, recipe, deps);
  } catch (err) {
    deps.reporter.warnOnce('refresh', `the background refresh of ${recipe.label} failed (${describeError(err)})`);
  }
}

async function run(fn: (...args: never[]) => unknown, args: unknown[]): Promise<Outcome> {
  try {
    return { ok: true, value: await fn(...(args as never[])) };
  } catch (error) {
    return { ok: false, error };
  }
}

// The options of the call: the given ones, then the settings of the config
// files and the environment, as `dcache run` reads them.
async function prepare(name: string, options: CachedOptions, reporter: Reporter): Promise<{ base: CallBase & { store: LocalStore }; namespace: string | null }> {
  const cwd = process.cwd();
  const home = homedir();
  const env = process.env;
  const loaded = loadSettings(cwd, env, home);
  const { settings, problems } = await checkSettings(loaded.settings);
  for (const problem of [...loaded.problems, ...problems]) reporter.warnOnce(`setting:${problem}`, `${problem}; ignored`);
  const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const given: CallOptions = {
    policy: options.policy !== undefined ? list(options.policy) : settings.policy.value,
    tz: options.tz ?? settings.tz.value ?? undefined,
    dir: options.dir ?? (env.DCACHE_DIR ? undefined : settings.dir.value),
    watch: list(options.watch),
    watchCmd: list(options.watchCmd),
    watchTimeout: undefined,
    remote: options.remote ?? settings.remote.value ?? undefined,
    remoteReadOnly: false,
    remoteTimeout: undefined,
    maxSize: settings.maxSize.value,
    signingKeyFile: settings.signingKeyFile.value,
    force: false,
    cacheFailures: options.cacheErrors === true,
    staleIfError: false,
    staleWhileRevalidate: options.staleWhileRevalidate ?? settings.staleWhileRevalidate.value ?? undefined,
    explain: false,
  };
  const prepared = await prepareCall(given, { cwd, home, env, nowText: options.now ? undefined : env.DCACHE_NOW, host: processHost() });
  if (!prepared.ok) throw new TypeError(`cached(${name}): ${prepared.error.replace(/^--([\w-]+)/, (_all, flag: string) => optionName(flag))}`);
  const base = prepared.value;
  if (options.now) {
    const now = options.now;
    base.clock = () => Number(now());
  }
  return { base, namespace: options.key ?? settings.key.value };
}

// --stale-while-revalidate, as the option of cached() is called
function optionName(flag: string): string {
  return `options.${flag.replace(/-(\w)/g, (_all, c: string) => c.toUpperCase())}`;
}

// How a function's value is produced and replayed: the value is the blob
// where a command's stdout would be.
function functionRecipe(
  name: string,
  fn: (...args: never[]) => unknown,
  args: unknown[],
  store: LocalStore,
  reporter: Reporter,
  cacheErrors: boolean,
): Recipe<Outcome> {
  return {
    label: `${name}()`,
    replay: async (entry, blobs) => replayValue(entry, blobs),
    produce: async (record): Promise<Production<Outcome>> => {
      const result = await run(fn, args);
      return {
        result,
        failed: result.ok ? null : `threw ${describeThrown(result.error)}`,
        discard: async () => {},
        keep: async (): Promise<EntryContent | null> => {
          if (!record || (!result.ok && !cacheErrors)) return null;
          if (result.ok) {
            const bad = unstorable(result.value);
            if (bad !== null) {
              reporter.warnOnce(`unstorable:${name}`, `${name}(): the result is not cached: ${bad}; a cached result may hold ${ACCEPTED}`);
              return null;
            }
          }
          try {
            const stdout = writeBlob(store, result.ok ? encodeValue(result.value) : encodeThrown(result.error));
            return { exitCode: result.ok ? 0 : 1, stdout, stderr: null, order: null, outputs: [] };
          } catch (err) {
            reporter.warnOnce('cache', `the result of ${name}() was not recorded (${describeError(err)})`);
            return null;
          }
        },
      };
    },
  };
}

function describeThrown(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

// Reads the value's blob whole (into memory of its own, so that a typed
// array can be a view of it), checks its hash, and decodes it.
async function replayValue(entry: Manifest, blobs: OpenBlobs): Promise<Replayed<Outcome>> {
  const ref = entry.stdout;
  if (ref === null) return { kind: 'unusable', warning: 'dropped a bad cache entry (it holds no value); calling the function', drop: true, badBlob: null };
  const fd = blobs.fd(ref.hash);
  const size = fstatSync(fd).size;
  const bytes = Buffer.allocUnsafeSlow(size);
  for (let off = 0; off < size; ) {
    const n = readSync(fd, bytes, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  const hash = createHash('sha256').update(bytes).digest('hex');
  if (size !== ref.size || hash !== ref.hash) {
    return { kind: 'unusable', warning: `dropped a bad cache entry (blob ${displayHash(ref.hash)} does not match its hash); calling the function`, drop: true, badBlob: ref.hash };
  }
  try {
    const decoded = decodeValue(bytes);
    return { kind: 'done', result: decoded.thrown ? { ok: false, error: decoded.error } : { ok: true, value: decoded.value } };
  } catch (err) {
    return { kind: 'unusable', warning: `dropped a bad cache entry (${describeError(err)}); calling the function`, drop: true, badBlob: ref.hash };
  }
}

// Writes the pieces of a value into the store as one blob, hashing them on
// the way; the pieces are written as they are (a large Buffer is not copied).
function writeBlob(store: LocalStore, pieces: Buffer[]): { hash: BlobHash; size: number } {
  store.prepare();
  const tempPath = store.tempPath();
  const fd = openSync(tempPath, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for (const piece of pieces) {
      hash.update(piece);
      for (let off = 0; off < piece.length; ) off += writeSync(fd, piece, off, piece.length - off);
      size += piece.length;
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tempPath, { force: true });
    throw err;
  }
  closeSync(fd);
  return store.publishBlob({ tempPath, hash: hash.digest('hex') as BlobHash, size });
}

// The library does not take over the program's signals: a lock it holds
// when the program is stopped lapses after its lease.
const NO_INTERRUPTS: Interrupts = {
  forwardTo: () => ({ dispose() {} }),
  cleanUpWith: () => ({ dispose() {} }),
};

// dcache's own words, from inside a program: warnings on stderr with the
// `dcache:` prefix, each once; the hit-or-miss lines only with DCACHE_VERBOSE=1.
function libraryReporter(): Reporter {
  const said = new Set<string>();
  const write = (message: string) => process.stderr.write(`dcache: ${message}\n`);
  const verbose = process.env.DCACHE_VERBOSE === '1';
  return {
    verbose,
    info: (message) => {
      if (verbose) write(message);
    },
    warn: write,
    warnOnce: (topic, message) => {
      if (said.has(topic)) return;
      said.add(topic);
      write(message);
    },
    alert: (topic, message) => {
      if (said.has(topic)) return;
      said.add(topic);
      write(message);
    },
    explain: () => {},
    error: write,
  };
}
