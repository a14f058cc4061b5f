import { createReadStream, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeError, ExitError } from '../core/errors.js';
import type { BlobHash, CacheKey } from '../core/hash.js';
import { formatSize } from '../core/size.js';
import { reclaim } from '../core/reclaim.js';
import { describeChanges, pathOfKey, planFetch, type FetchPlan, type PlannedObject } from '../engine/fetch-plan.js';
import { formatAge, parseDuration } from '../policy/duration.js';
import { judgePolicies } from '../policy/policy.js';
import type { Reporter } from '../ports/reporter.js';
import type { LeaseTiming, LockOutcome, WaitHooks } from '../ports/lease.js';
import type { Host } from '../ports/host.js';
import { FetchPathError, placeFile, removeFile, workingCopy } from '../process/fetched-files.js';
import type { FetchedObject } from '../schema/fetched-object.js';
import { sameIdentity } from '../schema/fetched-object.js';
import { buildFetchMaterial, deriveKey, sameKeyMaterial, type FetchMaterial } from '../schema/key.js';
import { RemoteSession } from '../store/remote/session.js';
import { MANIFEST_FORMAT, type BlobRef, type Manifest } from '../schema/manifest.js';
import { DEFAULT_WATCH_TIMEOUT_MS } from '../sources/registry.js';
import { downloadObject, listSource, openSourceStore, parseFetchSource, type FetchSource, type RemoteObject } from '../sources/fetch-source.js';
import { prepareCall, type CallContext } from '../setup/prepare-call.js';
import type { LocalStore } from '../store/local/local-store.js';
import { readCatalog } from '../store/local/catalog.js';

// An object, a prefix or a glob of a bucket in the working
// tree, downloaded again only where it changed. The entry of a fetch (key
// material of kind 'fetch') records each object's identity, its blob and
// the file written; the next fetch lists the source, downloads only the
// objects whose identity moved, restores working copies that went missing
// or were edited, and removes the files of objects that are gone. All
// downloads finish, verified, before any file is put in place: a fetch that
// fails part-way changes nothing in the directory.

// Exit codes of the maintenance commands: 1 failure, 2 usage error.
const FAILED = 1;
const USAGE = 2;
// downloads at a time
const PARALLEL = 8;
const MAX_TIMEOUT_MS = 60 * 60 * 1000;

export interface FetchOptions {
  output: string | undefined;
  // --policy as given on the command line (a config file's policy is run's)
  policy: string[];
  tz: string | undefined;
  key: string | undefined;
  dir: string | undefined;
  force: boolean;
  delete: boolean;
  // --timeout: how long the store may take to answer a request, or a
  // download to move 64 KiB (default: 10 s)
  timeout: string | undefined;
  // --remote (or DCACHE_REMOTE): the shared cache whose blobs a fleet shares
  remote: string | undefined;
  remoteReadOnly: boolean;
  remoteTimeout: string | undefined;
  signingKeyFile: string | null;
}

export interface FetchContext extends CallContext {
  source: string;
  options: FetchOptions;
  stdout: () => Writable;
  reporter: Reporter;
}

// Fetches the source as `ctx` says. Resolves with the absolute path of the
// file or directory it is in, or null when it went to stdout. Misuse and
// failures are ExitErrors (2 and 1) whose message is the last line to say.
export async function fetchInto(ctx: FetchContext): Promise<string | null> {
  const { options, reporter } = ctx;
  const parsed = parseFetchSource(ctx.source);
  if (!parsed.ok) throw new ExitError(parsed.error, USAGE);
  const source = parsed.value;
  if (options.key === '') throw new ExitError("--key '' is empty; give the text to mix into the key", USAGE);
  const target = where(source, options.output, ctx.cwd);
  let timeoutMs = DEFAULT_WATCH_TIMEOUT_MS;
  if (options.timeout !== undefined) {
    const parsed = parseDuration(options.timeout);
    if (!parsed.ok) throw new ExitError(`--timeout ${parsed.error}`, USAGE);
    if (parsed.value > MAX_TIMEOUT_MS) throw new ExitError(`--timeout '${options.timeout}' is longer than the longest dcache waits for an answer, 1h`, USAGE);
    timeoutMs = parsed.value;
  }
  const base = await prepareCall(
    {
      policy: options.policy,
      tz: options.tz,
      dir: options.dir,
      watch: [],
      watchCmd: [],
      watchTimeout: undefined,
      remote: options.remote,
      remoteReadOnly: options.remoteReadOnly,
      remoteTimeout: options.remoteTimeout,
      maxSize: '',
      signingKeyFile: options.signingKeyFile,
      force: options.force,
      cacheFailures: false,
      staleIfError: false,
      staleWhileRevalidate: undefined,
      explain: false,
    },
    ctx,
  );
  if (!base.ok) throw new ExitError(base.error, USAGE);
  const call = base.value;
  for (const warning of call.warnings) reporter.warnOnce(`setting:${warning}`, warning);
  const store = call.store;
  try {
    store.prepare();
  } catch (err) {
    throw new ExitError(`cannot use the cache directory ${store.root}, where fetch keeps what it downloads: ${describeError(err)}`, FAILED);
  }
  const material = buildFetchMaterial(source.label, target.kind === 'stdout' ? null : target.dest, options.key ?? null);
  const key = deriveKey(material);
  const started = call.host.elapsedMs();

  // Single flight: one fetch of a source into a place at a time; the next
  // one then finds the objects fetched, and downloads none of them again.
  const lock = await store.lockKey(key, call.lease, call.host, waitHooks(reporter, source.label));
  let sourceLock: LockOutcome | null = null;
  try {
    const read = store.readEntry(key);
    const previous = read.status === 'found' && sameKeyMaterial(read.manifest.material, material) && read.manifest.fetched !== undefined ? read.manifest : null;
    const now = call.clock();

    if (previous !== null && options.policy.length > 0 && !options.force) {
      const verdict = judgePolicies(call.policies, previous.recordedAt, now, call.zone);
      if (verdict.fresh) {
        const until = verdict.expiresAt === null ? '' : `, until ${formatAge(verdict.expiresAt - now)} from now`;
        reporter.info(`${source.label}: fetched ${formatAge(now - previous.recordedAt)} ago, fresh under ${options.policy.join(', ')}${until}: not checked`);
        const paths = new Map(previous.fetched!.map((o) => [o.key, o.path]));
        const plan = planFetch(previous.fetched!, previous.fetched!, '', (k) => ({ ok: true, path: paths.get(k)! }));
        const missing = plan.objects.filter((o) => !hasBlob(store, o.kept!.blob));
        if (missing.length === 0) {
          await putInPlace(ctx, store, target, plan, new Map(), previous.fetched!, call.host.umask());
          store.recordEvent({ t: now, k: key, e: 'hit', r: previous.recordedAt, saved: Math.max(0, previous.durationMs - call.host.elapsedMs() + started) });
          return target.kind === 'stdout' ? null : target.dest;
        }
        reporter.info(`${missing.length} of its blobs are gone from the cache: checking the source`);
      }
    }

    const opened = await openSourceStore(source, { env: call.commandEnv, timeoutMs, wallNow: () => call.host.wallNow() });
    if (!opened.ok) throw new ExitError(opened.error.detail, FAILED);
    const cloud = opened.value;
    const listed = await listSource(cloud, source);
    if (!listed.ok) throw new ExitError(listed.error.detail, FAILED);
    if (target.kind !== 'dir' && listed.value.length !== 1) throw new Error(`a listing of one object gave ${listed.value.length}`);
    const plan = planFetch(previous?.fetched ?? [], listed.value, source.base, target.kind === 'dir' ? undefined : () => ({ ok: true, path: target.kind === 'file' ? target.path : '' }));
    for (const { key: skipped, why } of plan.skipped) reporter.warn(`skipped ${source.cloud}://${source.bucket}/${skipped}: ${why}`);

    // Objects whose blob is no longer in the cache (gc) are downloaded again too.
    const wanted = plan.objects.filter((o) => o.kept === null || !hasBlob(store, o.kept.blob));
    const remote = call.remote !== null && wanted.length > 0 ? new Fleet(new RemoteSession(call.remote, ctx.env, call.signing, reporter, store), material) : null;
    // One fetch of a source at a time on this machine, whatever its place:
    // a fetch into another directory takes the blobs of the first.
    // (held until this fetch's entry is out, for the next to find)
    sourceLock =
      wanted.length > 0 && target.kind !== 'stdout'
        ? await store.lockKey(`${deriveKey(buildFetchMaterial(source.label, null, options.key ?? null))}.source` as CacheKey, call.lease, call.host, waitHooks(reporter, source.label))
        : null;
    const obtained = await obtain(wanted, {
      reporter,
      store,
      source,
      // a failed fetch's downloads first, then other fetches of the source
      local: () => new Map([...fetchedElsewhere(store, material), ...(previous?.pending ?? []).map((o): [string, FetchedObject] => [o.key, o])]),
      download: (object, onBytes) => downloadToStore(store, cloud, source, object, timeoutMs, onBytes),
      fleet: remote === null ? null : { remote, lease: call.lease, host: call.host, share: (got) => remote.share(plan.objects.map((o) => ({ planned: o, blob: got.get(o.object.key) ?? o.kept!.blob })), now, call.zoneName) },
    });
    const { downloaded, failures, fromBucket, fromRemote, fromCache, verified, bytes } = obtained;
    if (failures.length > 0) {
      // What did download is kept for the next fetch (the files stay as they were)
      const got = plan.objects.filter((o) => downloaded.has(o.object.key) && o.kept === null);
      if (previous !== null && got.length > 0) {
        try {
          store.publishManifest({ ...previous, pending: got.map((o) => ({ key: o.object.key, path: o.path, etag: o.object.etag, version: o.object.version, size: o.object.size, blob: downloaded.get(o.object.key)!, mtimeMs: null })) });
        } catch {
          // the next fetch downloads them again
        }
      }
      store.discardSpares();
      for (const failure of failures.sort()) reporter.error(`could not fetch ${failure}`);
      const untouched = target.kind === 'stdout' ? 'nothing was written' : `${target.shown} is as the last whole fetch left it`;
      throw new ExitError(`${failures.length} of ${fromBucket} object${fromBucket === 1 ? '' : 's'} could not be fetched; ${untouched}`, FAILED);
    }

    const removed = plan.removed.map((o) => o.key).filter((k) => !plan.objects.some((p) => p.object.key === k));
    const changes = describeChanges(plan, removed);
    reporter.info(
      `${source.label}: ${changes ?? `unchanged (${count(plan.objects.length, 'object')})`}` +
        (fromBucket > 0 ? `; downloaded ${count(fromBucket, 'object')}, ${formatSize(bytes)}, ${verified} checked by MD5, ${fromBucket - verified} by size` : '') +
        (fromCache > 0 ? `; ${count(fromCache, 'object')} already in the cache (another fetch of it)` : '') +
        (fromRemote > 0 ? `; ${count(fromRemote, 'object')} from ${call.remote!.label}` : ''),
    );
    const fetched = await putInPlace(ctx, store, target, plan, downloaded, previous?.fetched ?? [], call.host.umask(), options.delete);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      key,
      material,
      recordedAt: now,
      durationMs: Math.max(0, Math.round(call.host.elapsedMs() - started)),
      exitCode: 0,
      // Without --policy, the source itself is what makes the entry stale,
      // at every call: recorded as forever, as run -p forever -w would be.
      policies: options.policy.length > 0 ? options.policy : ['forever'],
      tz: call.zoneName,
      stdout: null,
      stderr: null,
      order: null,
      outputs: [],
      validators: [],
      fetched,
    };
    try {
      store.publishManifest(manifest);
    } catch (err) {
      // the files are in place; only the next fetch's saving is lost
      reporter.warn(`the fetch was not recorded (${describeError(err)}); the next fetch downloads it all again`);
    }
    store.recordEvent(wanted.length === 0 ? { t: now, k: key, e: 'hit', r: now } : { t: now, k: key, e: 'miss' });
    return target.kind === 'stdout' ? null : target.dest;
  } finally {
    if (sourceLock?.kind === 'held') await sourceLock.lock.release();
    if (lock.kind === 'held') await lock.lock.release();
  }
}

interface Obtained {
  // the blob of each object obtained, by key
  downloaded: Map<string, BlobRef>;
  failures: string[];
  // objects downloaded from the bucket (or tried), taken from another
  // fetch of the source on this machine, and from the remote
  fromBucket: number;
  fromCache: number;
  fromRemote: number;
  // of those from the bucket, how many were checked by MD5; their bytes
  verified: number;
  bytes: number;
}

// Gets the blobs of the objects `wanted`: from the fleet's remote, where
// another host has shared them, then from the bucket, eight at a time
// (with a remote, under its lease for the source, so that hosts that start
// together download each object once); with a remote, shares the whole
// fetch when every download succeeded.
async function obtain(
  wanted: Array<PlannedObject<RemoteObject>>,
  how: {
    reporter: Reporter;
    store: LocalStore;
    source: FetchSource;
    download(object: RemoteObject, onBytes: (n: number) => void): ReturnType<typeof downloadToStore>;
    // what other fetches of the source on this machine hold, by key
    local(): ReadonlyMap<string, FetchedObject>;
    fleet: { remote: Fleet; lease: LeaseTiming; host: Host; share(got: Map<string, BlobRef>): Promise<void> } | null;
  },
): Promise<Obtained> {
  const got: Obtained = { downloaded: new Map(), failures: [], fromBucket: 0, fromCache: 0, fromRemote: 0, verified: 0, bytes: 0 };
  const { fleet, reporter } = how;
  let lease: LockOutcome | null = null;
  if (wanted.length > 0) {
    const here = how.local();
    for (const o of wanted) {
      const record = here.get(o.object.key);
      if (record !== undefined && sameIdentity(record, o.object) && hasBlob(how.store, record.blob)) got.downloaded.set(o.object.key, record.blob);
    }
    got.fromCache = got.downloaded.size;
    wanted = wanted.filter((o) => !got.downloaded.has(o.object.key));
  }
  try {
    if (fleet !== null) {
      wanted = await fleet.remote.pull(wanted, got.downloaded);
      if (wanted.length > 0) {
        lease = await fleet.remote.session.lock(fleet.remote.key, fleet.lease, fleet.host, waitHooks(reporter, how.source.label));
        // what the host that held the lease shared meanwhile
        if (lease !== null && lease.kind === 'held' && lease.lock.waited) wanted = await fleet.remote.pull(wanted, got.downloaded);
      }
      got.fromRemote = got.downloaded.size - got.fromCache;
    }
    got.fromBucket = wanted.length;
    // a progress line on a terminal, for downloads that last over a second
    let moved = 0;
    const progress = reporter.transfer?.('downloading', how.source.label, wanted.reduce((n, o) => n + o.object.size, 0)) ?? null;
    try {
      await inParallel(wanted, PARALLEL, async (planned) => {
        const one = await how.download(planned.object, (n) => progress?.moved((moved += n)));
        if (!one.ok) return void got.failures.push(one.detail);
        got.downloaded.set(planned.object.key, one.blob);
        got.bytes += one.blob.size;
        if (one.checked === 'md5') got.verified += 1;
      });
    } finally {
      progress?.end();
    }
    if (fleet !== null && got.failures.length === 0 && !fleet.remote.session.readOnly) await fleet.share(got.downloaded);
    return got;
  } finally {
    if (lease?.kind === 'held') await lease.lock.release();
    await fleet?.remote.session.close();
  }
}

type Target =
  | { kind: 'stdout' }
  // one object: the file `path` in the folder `dir`
  | { kind: 'file'; dir: string; path: string; dest: string; shown: string }
  // a prefix or glob: the objects' paths below `dir`
  | { kind: 'dir'; dir: string; dest: string; shown: string };

// Where the objects go: standard output, a file, or a directory. One
// object given a directory (-o data/ or an existing folder) goes in it
// under the last segment of its key, as cp would put it.
function where(source: FetchSource, output: string | undefined, cwd: string): Target {
  if (output === '') throw new ExitError("-o '' is empty; give the file (one object) or the directory (a prefix or glob) to fetch into", USAGE);
  if (source.mode !== 'object') {
    if (output === undefined) {
      throw new ExitError(`${source.label} is a ${source.mode === 'glob' ? 'glob' : 'prefix'}: give the directory to mirror it into with -o <dir>`, USAGE);
    }
    const dest = resolve(cwd, output);
    return { kind: 'dir', dir: dest, dest, shown: output };
  }
  if (output === undefined || output === '-') return { kind: 'stdout' };
  const name = source.key.split('/').pop()!;
  let dest = resolve(cwd, output);
  if (output.endsWith('/') || isFolder(dest)) {
    const path = pathOfKey(name, '');
    if (path.ok !== true) throw new ExitError(`${source.label}: its name cannot be a file name here; give the file to write with -o <file>`, USAGE);
    dest = resolve(dest, name);
  }
  return { kind: 'file', dir: dirname(dest), path: basename(dest), dest, shown: output };
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// The objects other fetches of the same source (and --key) on this machine
// recorded, by key: read from the cache's entries, only when something is
// to be downloaded.
function fetchedElsewhere(store: LocalStore, material: FetchMaterial): Map<string, FetchedObject> {
  const found = new Map<string, FetchedObject>();
  for (const { manifest } of readCatalog(store).entries) {
    const m = manifest.material;
    if (m.kind !== 'fetch' || m.source !== material.source || m.extra !== material.extra || m.dest === material.dest) continue;
    for (const o of manifest.fetched ?? []) found.set(o.key, o);
  }
  return found;
}

function hasBlob(store: LocalStore, blob: BlobRef): boolean {
  try {
    return statSync(store.blobPath(blob.hash)).size === blob.size;
  } catch {
    return false;
  }
}

// One object, streamed into the blob store and checked on the way.
async function downloadToStore(
  store: LocalStore,
  cloud: Parameters<typeof downloadObject>[0],
  source: FetchSource,
  object: RemoteObject,
  timeoutMs: number,
  onBytes: (n: number) => void,
): Promise<{ ok: true; blob: BlobRef; checked: 'md5' | 'size' } | { ok: false; detail: string }> {
  const writer = store.createBlobWriter();
  let result;
  try {
    result = await downloadObject(
      cloud,
      source,
      object,
      async (chunk) => {
        reclaim(chunk.length);
        if (!writer.write(chunk)) await writer.drained();
      },
      { timeoutMs, onBytes },
    );
  } catch (err) {
    await writer.finish().catch(() => {});
    store.removeTemp(writer.tempPath);
    throw err;
  }
  let written;
  try {
    written = await writer.finish();
  } catch (err) {
    store.removeTemp(writer.tempPath);
    return { ok: false, detail: `${source.cloud}://${source.bucket}/${object.key}: could not be stored in the cache (${describeError(err)})` };
  }
  if (!result.ok) {
    store.removeTemp(written.tempPath);
    return { ok: false, detail: result.error.detail };
  }
  return { ok: true, blob: store.publishBlob(written), checked: result.value };
}

// Puts every object in place, after the files of removed objects have
// gone: a working copy that is still what fetch wrote is left alone, one
// missing or edited is restored, a downloaded one is renamed over it.
// Returns the records of the new entry.
async function putInPlace(
  ctx: FetchContext,
  store: LocalStore,
  target: Target,
  plan: FetchPlan<RemoteObject | FetchedObject>,
  downloaded: ReadonlyMap<string, BlobRef>,
  previous: readonly FetchedObject[],
  umask: number,
  deleting = true,
): Promise<FetchedObject[]> {
  const { reporter } = ctx;
  const records: FetchedObject[] = [];
  if (target.kind === 'stdout') {
    const planned = plan.objects[0]!;
    const blob = downloaded.get(planned.object.key) ?? planned.kept!.blob;
    await pipeline(createReadStream(store.blobPath(blob.hash)), ctx.stdout(), { end: false }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    return [fetchedRecord(planned, blob, null)];
  }
  const dir = target.dir;
  const wrote = new Set(previous.map((o) => o.path));
  if (deleting) {
    for (const gone of plan.removed) {
      const outcome = await removeFile(dir, gone);
      if (outcome === 'edited') reporter.warn(`kept ${gone.path}: its object is gone from the source, but it was edited since dcache wrote it`);
      if (outcome === 'removed') reporter.info(`removed ${gone.path}`);
    }
  }
  for (const planned of plan.objects) {
    const fresh = downloaded.get(planned.object.key);
    const blob = fresh ?? planned.kept!.blob;
    try {
      if (fresh === undefined) {
        const state = await workingCopy(dir, planned.kept!);
        if (state === 'same') {
          records.push(planned.kept!);
          continue;
        }
        const placed = await placeFile(dir, planned.path, store.blobPath(blob.hash as BlobHash), blob, umask);
        if (state === 'edited') reporter.warn(`restored ${shownPath(target, planned.path)}, edited since dcache wrote it`);
        else reporter.info(`restored ${shownPath(target, planned.path)}, which was missing`);
        records.push(fetchedRecord(planned, blob, placed.mtimeMs));
        continue;
      }
      const placed = await placeFile(dir, planned.path, store.blobPath(blob.hash as BlobHash), blob, umask);
      if (placed.replaced === 'other' && !wrote.has(planned.path)) reporter.warn(`replaced ${shownPath(target, planned.path)}, a file dcache had not written, with ${planned.object.key}`);
      records.push(fetchedRecord(planned, blob, placed.mtimeMs));
    } catch (err) {
      if (err instanceof FetchPathError) {
        reporter.error(`could not write ${shownPath(target, planned.path)}: ${err.message}`);
        throw new ExitError(`${target.shown} is not wholly fetched; the next fetch puts the rest in place`, FAILED);
      }
      throw new ExitError(`could not write ${shownPath(target, planned.path)} (${describeError(err)}); the next fetch puts the rest in place`, FAILED);
    }
  }
  return records;
}

function shownPath(target: Target, path: string): string {
  if (target.kind === 'stdout') return 'standard output';
  if (target.kind === 'file') return target.shown;
  return `${target.shown.replace(/\/+$/, '')}/${path}`;
}

function count(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`;
}

// Runs `work` on each item, `limit` at a time.
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// A fleet's share of a fetch, on the remote: an entry under the source
// alone (no host's paths in its key), naming the blob of each object by
// its identity. Pulled blobs are verified by the session (size, SHA-256,
// a signature with a signing key) like any remote entry's.
class Fleet {
  readonly key: CacheKey;
  private readonly material: FetchMaterial;

  constructor(
    readonly session: RemoteSession,
    local: FetchMaterial,
  ) {
    this.material = buildFetchMaterial(local.source, null, local.extra);
    this.key = deriveKey(this.material);
  }

  // Takes from the remote the blobs of the objects it has with the same
  // identity; returns those still wanted.
  async pull<O extends PlannedObject<RemoteObject>>(wanted: O[], downloaded: Map<string, BlobRef>): Promise<O[]> {
    const entry = await this.session.fetchEntry(this.key, this.material);
    if (entry === null || entry.fetched === undefined) return wanted;
    const shared = new Map(entry.fetched.map((o) => [o.key, o]));
    const found = wanted.flatMap((o) => {
      const record = shared.get(o.object.key);
      return record !== undefined && sameIdentity(record, o.object) ? [record] : [];
    });
    if (found.length === 0 || !(await this.session.download({ ...entry, fetched: found }))) return wanted;
    for (const record of found) downloaded.set(record.key, record.blob);
    return wanted.filter((o) => !downloaded.has(o.object.key));
  }

  // Shares the objects as this host has them now: blobs first, then the entry.
  async share(objects: Array<{ planned: PlannedObject<RemoteObject>; blob: BlobRef }>, now: number, tz: string | null): Promise<void> {
    await this.session.share({
      format: MANIFEST_FORMAT,
      key: this.key,
      material: this.material,
      recordedAt: now,
      durationMs: 0,
      exitCode: 0,
      policies: ['forever'],
      tz,
      stdout: null,
      stderr: null,
      order: null,
      outputs: [],
      validators: [],
      fetched: objects.map(({ planned, blob }) => fetchedRecord(planned, blob, null)),
    });
  }
}

function waitHooks(reporter: Reporter, label: string): WaitHooks {
  return {
    onWait: (holder) => reporter.info(`waiting for ${holder}, which is fetching ${label}`),
    onProgress: (holder, waitedMs) => reporter.info(`still waiting for ${holder}, for ${formatAge(waitedMs)} now`),
    onTakeover: (holder, why) => reporter.info(`taking the lock over from ${holder}: ${why}`),
    onTimeout: (holder, waitedMs) => reporter.alert('lock-wait', `waited ${formatAge(waitedMs)} for ${holder}; fetching anyway`),
    giveUp: () => false,
    onLost: (why) => reporter.warn(`lost the lock of this fetch (${why})`),
  };
}

// What the manifest keeps of an object fetched: its key, where it was put,
// its identity, its blob, and the mtime of the file written (null: none yet).
function fetchedRecord(planned: PlannedObject<RemoteObject | FetchedObject>, blob: BlobRef, mtimeMs: number | null): FetchedObject {
  return {
    key: planned.object.key,
    path: planned.path,
    etag: planned.object.etag,
    version: planned.object.version,
    size: planned.object.size,
    blob,
    mtimeMs,
  };
}
