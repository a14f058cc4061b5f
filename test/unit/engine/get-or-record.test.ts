import { describe, expect, it } from 'vitest';
import type { Call } from '../../../src/engine/call.js';
import { getOrRecord, type EntryContent, type Production, type Recipe, type Replayed } from '../../../src/engine/get-or-record.js';
import type { Host } from '../../../src/ports/host.js';
import { leaseTiming, sleep, type HeldLock, type LeaseTiming, type LockOutcome, type WaitHooks } from '../../../src/ports/lease.js';
import type { Reporter } from '../../../src/ports/reporter.js';
import type { ActivityEvent, EntryStore, OpenBlobs, ReadEntryResult, SharedTier } from '../../../src/ports/tiers.js';
import { hashBytes, type BlobHash, type CacheKey } from '../../../src/core/hash.js';
import { parseZone } from '../../../src/policy/clock.js';
import { parsePolicies } from '../../../src/policy/policy.js';
import type { Interrupts } from '../../../src/ports/interrupts.js';
import { buildKeyMaterial } from '../../../src/schema/key.js';
import type { KeyMaterial } from '../../../src/schema/key.js';
import type { Manifest } from '../../../src/schema/manifest.js';
import type { RemoteSpec } from '../../../src/store/remote/backend.js';

// The engine's flow (hit, wait, pull, record, share) against fake tiers, a
// fake clock and a recipe whose "value" is a string: no file system, no
// process, no network. The real tiers have their own tests.

const KEY = '0123456789abcdef' as CacheKey;
const MATERIAL = buildKeyMaterial({ argv: ['fetch'], cwd: '/srv' });
const MONDAY_9 = Date.UTC(2026, 2, 2, 9);
const HOUR = 3_600_000;

// An in-memory local store; its lock is a lease kept in memory.
class FakeStore implements EntryStore {
  readonly root = '/fake/cache';
  entries = new Map<string, Manifest>();
  foreign = new Map<string, string>();
  blobs = new Map<string, Buffer>();
  events: ActivityEvent[] = [];
  dropped: string[] = [];
  unusable: string | null = null;
  private holder: string | null = null;

  whyNotTrusted() {
    return this.unusable;
  }
  prepare() {
    if (this.unusable !== null) throw new Error(this.unusable);
  }
  readEntry(key: CacheKey): ReadEntryResult {
    const detail = this.foreign.get(key);
    if (detail !== undefined) return { status: 'foreign', detail };
    const manifest = this.entries.get(key);
    return manifest ? { status: 'found', manifest, stamp: this.entryStamp(key)! } : { status: 'absent' };
  }
  entryStamp(key: CacheKey) {
    const manifest = this.entries.get(key);
    return manifest ? `${manifest.recordedAt}` : null;
  }
  checkBlobs(manifest: Manifest) {
    const ref = manifest.stdout;
    return ref !== null && !this.blobs.has(ref.hash) ? { hash: ref.hash, detail: `blob ${ref.hash} is missing` } : null;
  }
  openBlobs(): OpenBlobs {
    return { fd: () => -1, path: () => '', checked: () => false, noteChecked: () => {}, close: () => {} };
  }
  dropEntry(manifest: Manifest | null, key: CacheKey, badBlob: BlobHash | null) {
    this.dropped.push(key);
    if (badBlob) this.blobs.delete(badBlob);
    if (manifest === null || this.entries.get(key)?.recordedAt === manifest.recordedAt) this.entries.delete(key);
  }
  publishManifest(manifest: Manifest) {
    this.entries.set(manifest.key, manifest);
  }
  outcomes = new Map<string, Manifest>();
  publishOutcome(manifest: Manifest, runId: string) {
    this.outcomes.set(runId, manifest);
  }
  readOutcome(_key: CacheKey, runIds: Iterable<string>) {
    for (const id of runIds) {
      const found = this.outcomes.get(id);
      if (found) return found;
    }
    return null;
  }
  discardSpares() {}
  claimRefresh() {
    return true;
  }
  dropRefreshClaim() {}
  recordEvent(event: ActivityEvent) {
    this.events.push(event);
  }
  async lockKey(_key: CacheKey, timing: LeaseTiming, host: Host, hooks: WaitHooks): Promise<LockOutcome> {
    let told = false;
    while (this.holder !== null) {
      if (!told) {
        told = true;
        hooks.onWait(this.holder);
      }
      await sleep(timing.pollMs);
      if (await hooks.giveUp()) return { kind: 'gave-up' };
    }
    const me = `process ${host.pid}`;
    this.holder = me;
    const lock: HeldLock = {
      waited: told,
      lostReason: () => null,
      release: async () => {
        if (this.holder === me) this.holder = null;
      },
    };
    return { kind: 'held', lock };
  }
  async collectNowAndThen() {}
}

// A shared cache in memory: entries as they would be uploaded.
class FakeShared implements SharedTier {
  readonly label = 'fake://team';
  readonly readOnly = false;
  entries = new Map<string, Manifest>();
  shared: Manifest[] = [];

  constructor(private readonly local: FakeStore) {}

  async fetchEntry(key: CacheKey, material: KeyMaterial) {
    const entry = this.entries.get(key);
    return entry && JSON.stringify(entry.material) === JSON.stringify(material) ? entry : null;
  }
  async download(manifest: Manifest) {
    if (manifest.stdout) this.local.blobs.set(manifest.stdout.hash, Buffer.from('from the team'));
    return true;
  }
  async share(manifest: Manifest) {
    this.shared.push(manifest);
    this.entries.set(manifest.key, manifest);
  }
  async lock() {
    return null;
  }
  async close() {}
}

// What the engine said, once per topic where the real reporter says it once.
class Said implements Reporter {
  // as with -v: every info line is built and kept
  readonly verbose = true;
  lines: string[] = [];
  private readonly topics = new Set<string>();
  info(m: string) {
    this.lines.push(`info ${m}`);
  }
  warn(m: string) {
    this.lines.push(`warn ${m}`);
  }
  warnOnce(topic: string, m: string) {
    if (!this.topics.has(topic)) this.lines.push(`warn ${m}`);
    this.topics.add(topic);
  }
  alert(topic: string, m: string) {
    if (!this.topics.has(topic)) this.lines.push(`alert ${m}`);
    this.topics.add(topic);
  }
  explain(m: string) {
    this.lines.push(`explain ${m}`);
  }
  error(m: string) {
    this.lines.push(`error ${m}`);
  }
}

const noInterrupts: Interrupts = { forwardTo: () => ({ dispose() {} }), cleanUpWith: () => ({ dispose() {} }) };

interface World {
  store: FakeStore;
  clock: { now: number };
  said: Said;
  shared: FakeShared | null;
}

async function makeCall(world: World, overrides: Partial<Call> = {}, policy = ['daily']): Promise<Call> {
  const zone = parseZone('Europe/Paris');
  if (!zone.ok) throw new Error(zone.error);
  const policies = await parsePolicies(policy, zone.value);
  if (!policies.ok) throw new Error(policies.error);
  const host: Host = { hostname: 'test', pid: 4242, uid: null, umask: () => 0o022, wallNow: () => Date.now(), elapsedMs: () => 5, isRunning: () => true };
  return {
    key: KEY,
    material: MATERIAL,
    policies: policies.value,
    zone: zone.value,
    zoneName: 'Europe/Paris',
    watch: { sources: [], timeoutMs: 1000 },
    cwd: '/srv',
    commandEnv: {},
    clock: () => world.clock.now,
    host,
    store: world.store,
    remote: world.shared ? ({ kind: 'fake', url: new URL('fake://team'), label: 'fake://team', readOnly: false, timeoutMs: 1000, stallMs: 5000, maxEntryBytes: 2 ** 32 } satisfies RemoteSpec) : null,
    signing: null,
    lease: leaseTiming(200),
    force: false,
    staleWhileRevalidateMs: null,
    refreshing: false,
    refreshLimitMs: null,
    cacheFailures: false,
    staleIfError: false,
    explain: false,
    maxSize: 1 << 30,
    warnings: [],
    ...overrides,
  };
}

// A recipe whose value is a string, produced once per call of produce().
class Fetch implements Recipe<string> {
  readonly label = 'fetch';
  productions = 0;
  // what the next productions give: their value and exit code
  exitCode = 0;
  replayAs: Replayed<string> | null = null;
  delay = 0;

  constructor(private readonly world: World) {}

  async replay(entry: Manifest, _blobs: OpenBlobs): Promise<Replayed<string>> {
    if (this.replayAs) return this.replayAs;
    const bytes = entry.stdout ? this.world.store.blobs.get(entry.stdout.hash) : undefined;
    return { kind: 'done', result: `replayed ${bytes?.toString() ?? ''}`.trim() };
  }

  async produce(record: boolean): Promise<Production<string>> {
    this.productions += 1;
    const value = `value ${this.productions}`;
    if (this.delay > 0) await sleep(this.delay);
    const exitCode = this.exitCode;
    const bytes = Buffer.from(value);
    return {
      result: exitCode === 0 ? value : `failed ${exitCode}`,
      failed: exitCode === 0 ? null : `exit ${exitCode}`,
      discard: async () => {},
      keep: async (): Promise<EntryContent | null> => {
        if (!record || exitCode !== 0) return null;
        const hash = hashBytes(bytes);
        this.world.store.blobs.set(hash, bytes);
        return { exitCode, stdout: { hash, size: bytes.length }, stderr: null, order: null, outputs: [] };
      },
    };
  }
}

function world(shared = false): World {
  const store = new FakeStore();
  const w: World = { store, clock: { now: MONDAY_9 }, said: new Said(), shared: null };
  if (shared) w.shared = new FakeShared(store);
  return w;
}

async function call(w: World, recipe: Fetch, overrides: Partial<Call> = {}, policy?: string[]) {
  const c = await makeCall(w, overrides, policy);
  return getOrRecord(c, recipe, { reporter: w.said, interrupts: noInterrupts, openShared: () => w.shared! });
}

describe('getOrRecord', () => {
  it('produces and records on a miss, then replays for the rest of the day', async () => {
    const w = world();
    const fetch = new Fetch(w);
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'value 1' });
    w.clock.now = MONDAY_9 + 6 * HOUR;
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'replayed value 1' });
    expect(fetch.productions).toBe(1);
    expect(w.store.events.map((e) => e.e)).toEqual(['miss', 'hit']);
  });

  it('produces again once the policy says the entry is stale', async () => {
    const w = world();
    const fetch = new Fetch(w);
    await call(w, fetch);
    w.clock.now = MONDAY_9 + 24 * HOUR;
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'value 2' });
    expect(w.store.entries.get(KEY)?.recordedAt).toBe(MONDAY_9 + 24 * HOUR);
  });

  it('records the policies, the zone and the record time with the entry', async () => {
    const w = world();
    await call(w, new Fetch(w), {}, ['daily', 'ttl:6h']);
    expect(w.store.entries.get(KEY)).toMatchObject({ key: KEY, recordedAt: MONDAY_9, policies: ['daily', 'ttl:6h'], tz: 'Europe/Paris', exitCode: 0 });
  });

  it('produces even when fresh with force, and records the new value', async () => {
    const w = world();
    const fetch = new Fetch(w);
    await call(w, fetch);
    expect(await call(w, fetch, { force: true })).toEqual({ ok: true, result: 'value 2' });
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'replayed value 2' });
  });

  it('does not replay a recorded failure to a call that does not cache failures', async () => {
    const w = world();
    w.store.publishManifest({ ...(await recorded(w)), exitCode: 3 });
    const fetch = new Fetch(w);
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'value 1' });
    expect(w.said.lines).toContain('info miss (the entry is a recorded failure (exit 3), replayed only with --cache-failures); running fetch');
  });

  it('drops an entry that proves unusable before anything was written, and produces', async () => {
    const w = world();
    const fetch = new Fetch(w);
    await call(w, fetch);
    fetch.replayAs = { kind: 'unusable', warning: 'dropped a bad cache entry (bad)', drop: true, badBlob: null };
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'value 2' });
    expect(w.store.dropped).toEqual([KEY]);
    expect(w.said.lines).toContain('warn dropped a bad cache entry (bad)');
  });

  it('fails, and drops the entry, when a replay breaks after writing', async () => {
    const w = world();
    const fetch = new Fetch(w);
    await call(w, fetch);
    fetch.replayAs = { kind: 'broken', badBlob: 'ab' as BlobHash, detail: 'blob ab does not match its hash' };
    expect(await call(w, fetch)).toEqual({ ok: false, reason: 'broken-replay', detail: 'blob ab does not match its hash' });
    expect(w.store.entries.has(KEY)).toBe(false);
    expect(fetch.productions).toBe(1);
  });

  it('replays the last good entry when the production fails, with stale-if-error', async () => {
    const w = world();
    const fetch = new Fetch(w);
    await call(w, fetch);
    w.clock.now = MONDAY_9 + 24 * HOUR;
    fetch.exitCode = 6;
    expect(await call(w, fetch, { staleIfError: true })).toEqual({ ok: true, result: 'replayed value 1' });
    // an alert: -q does not hide that stale output was served
    expect(w.said.lines.some((l) => l.startsWith('alert the command failed (exit 6); replaying the entry recorded 24h ago'))).toBe(true);
    expect(w.store.entries.get(KEY)?.recordedAt).toBe(MONDAY_9);
  });

  it('runs a concurrent call of the same key once: the waiter replays what the holder recorded', async () => {
    const w = world();
    const fetch = new Fetch(w);
    fetch.delay = 300;
    const [first, second] = await Promise.all([call(w, fetch), call(w, fetch)]);
    expect(fetch.productions).toBe(1);
    expect([first, second]).toContainEqual({ ok: true, result: 'value 1' });
    expect([first, second]).toContainEqual({ ok: true, result: 'replayed value 1' });
    expect(w.said.lines).toContain('info waiting for process 4242, which is running the same command');
  });

  it('leaves an entry of a newer version alone: a miss, and not overwritten', async () => {
    const w = world();
    w.store.foreign.set(KEY, 'manifest of a newer format (3)');
    const fetch = new Fetch(w);
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'value 1' });
    expect(w.store.entries.has(KEY)).toBe(false);
    expect(w.said.lines).toContain('info not recorded: the entry under this key was written by a newer version of dcache (manifest of a newer format (3))');
  });

  it('produces uncached, with one alert, when the store cannot be used', async () => {
    const w = world();
    w.store.unusable = 'it belongs to another user (uid 7)';
    const fetch = new Fetch(w);
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'value 1' });
    expect(w.store.entries.size).toBe(0);
    expect(w.said.lines.filter((l) => l.startsWith('alert'))).toHaveLength(1);
  });

  it('replays a fresh entry of the shared cache, copied into the local store, without producing', async () => {
    const w = world(true);
    w.shared!.entries.set(KEY, await recorded(w));
    const fetch = new Fetch(w);
    expect(await call(w, fetch)).toEqual({ ok: true, result: 'replayed from the team' });
    expect(fetch.productions).toBe(0);
    expect(w.store.entries.has(KEY)).toBe(true);
    expect(w.store.events).toEqual([expect.objectContaining({ e: 'hit', remote: true })]);
  });

  it('shares what it recorded', async () => {
    const w = world(true);
    await call(w, new Fetch(w));
    expect(w.shared!.shared.map((m) => m.key)).toEqual([KEY]);
  });

  it('explains its decision, when asked, before anything else', async () => {
    const w = world();
    await call(w, new Fetch(w), { explain: true });
    expect(w.said.lines[0]).toBe(`explain key ${KEY}`);
    expect(w.said.lines).toContain('explain verdict: run the command (no entry)');
  });

  it('says the settings that were ignored, once each', async () => {
    const w = world();
    await call(w, new Fetch(w), { warnings: ['DCACHE_MAX_SIZE: bad; ignored'] });
    expect(w.said.lines.filter((l) => l === 'warn DCACHE_MAX_SIZE: bad; ignored')).toHaveLength(1);
  });
});

// A good entry for KEY recorded at MONDAY_9, its blob in the world's store.
async function recorded(w: World): Promise<Manifest> {
  const bytes = Buffer.from('value 0');
  const hash = hashBytes(bytes);
  w.store.blobs.set(hash, bytes);
  return {
    format: 2,
    key: KEY,
    material: MATERIAL,
    recordedAt: MONDAY_9,
    durationMs: 100,
    exitCode: 0,
    policies: ['daily'],
    tz: 'Europe/Paris',
    stdout: { hash, size: bytes.length },
    stderr: null,
    order: null,
    outputs: [],
    validators: [],
  };
}
