import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BlobHash, CacheKey } from '../../src/core/hash.js';
import {
  CHUNK_BYTES,
  openRedisRemote,
  PENDING_CHUNK_TTL_MS,
  STORED_TTL_MS,
} from '../../src/store/remote/redis.js';
import { leaseTiming, type HeldLock, type WaitHooks } from '../../src/ports/lease.js';
import type { Host } from '../../src/ports/host.js';
import type { RemoteSpec, RemoteBackend } from '../../src/store/remote/backend.js';
import { parseRemote } from '../../src/store/remote/registry.js';
import { HangingServer } from '../support/servers/hanging-server.js';
import { freePort } from '../support/servers/ports.js';
import { RedisCluster, RedisServer } from '../support/servers/redis.js';
import { waitUntil } from '../support/wait.js';

// The Redis remote against a real redis-server and a real Redis Cluster of
// three masters: what a store does is tested on both, then what is particular
// to each. Keys and hashes are unique per test, so the tests share the
// servers without seeing each other's data.

const MiB = 1 << 20;
const DAY_MS = 24 * 60 * 60 * 1000;
// a short timeout for the down and hanging remotes, and a short lease for the
// lock tests (the real one is 10 s): long enough that a holder whose test
// process is held up for a while under a full suite still renews in time
// (at 600 ms the first holder's lease lapsed once in a full suite: the
// second took the lock while the first still held it)
const TIMEOUT_MS = 500;
const LEASE_MS = 1500;

let serial = 0;
function uniqueHex(): string {
  serial += 1;
  return `${process.pid.toString(16)}${serial.toString(16)}`.padStart(16, '0').slice(-16);
}
const newKey = () => uniqueHex() as CacheKey;
// shaped like a SHA-256, as blob hashes are
const newHash = () => uniqueHex().padStart(64, '0') as BlobHash;

function specFor(url: string, options: { readOnly?: boolean; timeoutMs?: number } = {}): RemoteSpec {
  const parsed = parseRemote(url, options.readOnly ?? false, options.timeoutMs ?? 2_000);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

// The names the store gives its keys: an entry's share the hash tag {<key>},
// a blob's {<hash>}.
const entryName = (key: CacheKey) => `dcache:v2:{${key}}:entry`;
const lockName = (key: CacheKey) => `dcache:v2:{${key}}:lock`;
const metaName = (hash: BlobHash) => `dcache:v2:{${hash}}:blob`;
const chunkName = (hash: BlobHash, index: number) => `dcache:v2:{${hash}}:blob:${index}`;

// a client the tests use to look at and tamper with keys
type Client = Redis | Cluster;

let redis: RedisServer;
let raw: Redis;
let cluster: RedisCluster;
let clusterRaw: Cluster;
let scratch: string;
const opened: RemoteBackend[] = [];

async function openStore(url = redis.url(), options: { readOnly?: boolean; timeoutMs?: number } = {}): Promise<RemoteBackend> {
  const store = await openRedisRemote(specFor(url, options));
  opened.push(store);
  return store;
}

const TIMING = leaseTiming(LEASE_MS, 60_000);
const ME: Host = { hostname: 'test-host', pid: process.pid, uid: null, umask: () => 0o022, wallNow: () => Date.now(), elapsedMs: () => 0, isRunning: () => true };

// What a lock taker was told while it waited.
interface Told {
  waits: number;
  takeovers: string[];
  lost: string[];
}

// Takes a lock, counting what the taker is told; fails unless it is held.
async function takeLock(store: RemoteBackend, key: CacheKey, told: Told = { waits: 0, takeovers: [], lost: [] }): Promise<HeldLock> {
  const hooks: WaitHooks = {
    onWait: () => void (told.waits += 1),
    onProgress: () => {},
    onTakeover: (_holder, why) => void told.takeovers.push(why),
    onTimeout: () => {},
    giveUp: () => false,
    onLost: (why) => void told.lost.push(why),
  };
  const outcome = await store.lock!(key, TIMING, ME, hooks);
  if (outcome.kind !== 'held') throw new Error(`the lock was not taken: ${outcome.kind}`);
  return outcome.lock;
}

// Writes `bytes` to a file in the scratch directory and returns its path.
function fileWith(bytes: Buffer): string {
  const path = join(scratch, `blob-${uniqueHex()}`);
  writeFileSync(path, bytes);
  return path;
}

// Reads a blob back; null when the store says it is absent.
async function readBlob(store: RemoteBackend, hash: BlobHash): Promise<{ bytes: Buffer; writes: number } | null> {
  const chunks: Buffer[] = [];
  const found = await store.getBlob(hash, (chunk) => {
    chunks.push(Buffer.from(chunk));
  });
  return found ? { bytes: Buffer.concat(chunks), writes: chunks.length } : null;
}

beforeAll(async () => {
  [redis, cluster] = await Promise.all([RedisServer.start(), RedisCluster.start()]);
  raw = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
  await raw.connect();
  clusterRaw = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }], { lazyConnect: true });
  await clusterRaw.connect();
  scratch = mkdtempSync(join(tmpdir(), 'dcache-redis-test-'));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  raw?.disconnect();
  clusterRaw?.disconnect();
  await Promise.all([redis?.stop(), cluster?.stop()]);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// Runs `lines` (TypeScript, inside an async function, with openRedisRemote
// and spec(url) in scope) as a separate Node process, bundled to CommonJS
// like the real dist/cli.cjs. The process must exit by itself: a dangling
// timer or socket would keep it alive, and it is killed after a generous 20 s.
async function runScript(
  lines: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dcache-redis-script-'));
  try {
    const script = join(dir, 'script.ts');
    const source = resolve(import.meta.dirname, '../../src/store/remote/redis.ts');
    writeFileSync(
      script,
      [
        `import { openRedisRemote } from ${JSON.stringify(source)};`,
        `const spec = (url: string) => ({ kind: 'redis' as const, url: new URL(url), label: 'the remote', readOnly: false, timeoutMs: ${TIMEOUT_MS} });`,
        `const timing = { leaseMs: 10_000, heartbeatMs: 2_500, pollMs: 200, progressMs: 5_000, maxWaitMs: 60_000 };`,
        `const me = { hostname: 'h', pid: 1, uid: null, wallNow: () => Date.now(), elapsedMs: () => 0, isRunning: () => true };`,
        `const hooks = { onWait() {}, onProgress() {}, onTakeover() {}, onTimeout() {}, giveUp: () => false, onLost() {} };`,
        `async function main(): Promise<void> {`,
        ...lines,
        `  console.log('done');`,
        `}`,
        `void main();`,
      ].join('\n'),
    );
    const bundle = join(dir, 'script.cjs');
    await build({ entryPoints: [script], outfile: bundle, bundle: true, platform: 'node', format: 'cjs', logLevel: 'silent' });
    const child = spawn(process.execPath, [bundle], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
      child.on('exit', (c, s) => r([c, s])),
    );
    clearTimeout(killer);
    return { code, signal, output: output.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Every method of a store that cannot work must reject (never hang).
async function expectEveryMethodRejects(store: RemoteBackend): Promise<void> {
  const path = fileWith(Buffer.from('abc'));
  await expect(store.getManifest(newKey())).rejects.toThrow(store.label);
  await expect(store.hasBlob(newHash())).rejects.toThrow(store.label);
  await expect(store.getBlob(newHash(), () => {})).rejects.toThrow(store.label);
  await expect(store.putBlob(newHash(), 3, path)).rejects.toThrow(store.label);
  await expect(store.putManifest(newKey(), Buffer.from('{}'))).rejects.toThrow(store.label);
  await expect(takeLock(store, newKey())).rejects.toThrow(store.label);
}

// How many times each command has run on a server so far (INFO commandstats).
async function commandCounts(server: Redis): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [, name, calls] of (await server.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts[name!] = Number(calls);
  }
  return counts;
}

// How many error replies of each kind (MOVED, ASK, CROSSSLOT...) the
// masters of the cluster `via` is connected to have sent so far.
async function errorCounts(via: Cluster): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const node of via.nodes('master')) {
    for (const [, kind, count] of (await node.info('errorstats')).matchAll(/^errorstat_(\w+):count=(\d+)/gm)) {
      counts[kind!] = (counts[kind!] ?? 0) + Number(count);
    }
  }
  return counts;
}

// What grew from `before` to `after`, and by how much.
function countsBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([name, count]) => [name, count - (before[name] ?? 0)] as const)
      .filter(([, grown]) => grown > 0),
  );
}

// The port of the master that serves the slot of the key `name`.
async function portServing(via: Cluster, name: string): Promise<number> {
  const slot = await via.cluster('KEYSLOT', name);
  const ranges = (await via.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
  const range = ranges.find(([first, last]) => first <= slot && slot <= last);
  if (range === undefined) throw new Error(`no node serves slot ${slot}`);
  return range[2][1];
}

// A new key whose entry lives on a master whose port passes `wanted`.
async function newKeyServedBy(via: Cluster, wanted: (port: number) => boolean): Promise<CacheKey> {
  for (;;) {
    const key = newKey();
    if (wanted(await portServing(via, entryName(key)))) return key;
  }
}

// What a store does, the same on a single server and on a cluster. On the
// cluster each store meets the node in the URL first, and switches to the
// cluster client at its first redirected command.
describe.each([
  ['a single Redis', () => ({ url: redis.url(), raw: raw as Client })],
  ['a Redis Cluster', () => ({ url: cluster.url(), raw: clusterRaw as Client })],
] as const)('on %s', (_name, serverOf) => {
  let url: string;
  let raw: Client;
  beforeAll(() => {
    ({ url, raw } = serverOf());
  });
  const open = (options: { readOnly?: boolean } = {}) => openStore(url, options);

  describe('manifests', () => {
    it('returns null for a key it has no manifest for', async () => {
      const store = await open();
      expect(await store.getManifest(newKey())).toBeNull();
    });

    it('gives back the exact bytes of a manifest it was given', async () => {
      const store = await open();
      const key = newKey();
      const bytes = Buffer.concat([Buffer.from('{"format":1,"key":"'), Buffer.from([0xff, 0x00, 0xfe]), Buffer.from('"}')]);
      await store.putManifest(key, bytes);
      expect(await store.getManifest(key)).toEqual(bytes);
    });

    it('keeps a manifest under dcache:v2:{<key>}:entry for 30 days', async () => {
      const store = await open();
      const key = newKey();
      await store.putManifest(key, Buffer.from('{}'));
      const ttl = await raw.pttl(entryName(key));
      expect(ttl).toBeGreaterThan(STORED_TTL_MS - DAY_MS);
      expect(ttl).toBeLessThanOrEqual(STORED_TTL_MS);
    });
  });

  describe('blobs', () => {
    it('streams a 9 MiB blob back byte for byte, in chunks of at most 4 MiB', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = randomBytes(9 * MiB);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      const sizes: number[] = [];
      const chunks: Buffer[] = [];
      const found = await store.getBlob(hash, (chunk) => {
        sizes.push(chunk.length);
        chunks.push(Buffer.from(chunk));
      });
      expect(found).toBe(true);
      expect(sizes).toEqual([CHUNK_BYTES, CHUNK_BYTES, 9 * MiB - 2 * CHUNK_BYTES]);
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    });

    it('stores a blob as metadata plus chunks under dcache:v2:{<hash>}:blob', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = randomBytes(CHUNK_BYTES + 10);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      expect(JSON.parse((await raw.get(metaName(hash))) ?? 'null')).toEqual({ size: bytes.length, chunks: 2 });
      expect(await raw.strlen(chunkName(hash, 0))).toBe(CHUNK_BYTES);
      expect(await raw.strlen(chunkName(hash, 1))).toBe(10);
    });

    it('waits for each write to finish before fetching the next chunk', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = randomBytes(3 * CHUNK_BYTES);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      let writing = 0;
      let overlapped = false;
      let writes = 0;
      await store.getBlob(hash, async () => {
        if (writing > 0) overlapped = true;
        writing += 1;
        writes += 1;
        await new Promise((r) => setTimeout(r, 50));
        writing -= 1;
      });
      expect(writes).toBe(3);
      expect(overlapped).toBe(false);
    });

    it('fetches a chunk only once the write of the one before has finished', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = randomBytes(2 * CHUNK_BYTES);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      // Deleted while chunk 0 is being written: a reader that fetched ahead would not notice.
      const reading = store.getBlob(hash, async (chunk) => {
        if (chunk.length === CHUNK_BYTES && (await raw.exists(chunkName(hash, 1))) === 1) {
          await raw.del(chunkName(hash, 1));
        }
      });
      await expect(reading).rejects.toThrow(/lost chunk 1/);
    });

    it('stores and returns an empty blob', async () => {
      const store = await open();
      const hash = newHash();
      await store.putBlob(hash, 0, fileWith(Buffer.alloc(0)));
      expect(await store.hasBlob(hash)).toBe(true);
      expect(await readBlob(store, hash)).toEqual({ bytes: Buffer.alloc(0), writes: 0 });
    });

    it('reports a blob it never had as absent', async () => {
      const store = await open();
      const hash = newHash();
      expect(await store.hasBlob(hash)).toBe(false);
      expect(await readBlob(store, hash)).toBeNull();
    });

    it('reports a blob absent, without writing a byte, once one of its chunks is gone', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = randomBytes(9 * MiB);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      expect(await store.hasBlob(hash)).toBe(true);
      await raw.del(chunkName(hash, 1));
      expect(await store.hasBlob(hash)).toBe(false);
      let writes = 0;
      expect(await store.getBlob(hash, () => void (writes += 1))).toBe(false);
      expect(writes).toBe(0);
    });

    it('keeps a complete blob, metadata and chunks, for 30 days', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = randomBytes(CHUNK_BYTES + 1);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      for (const key of [metaName(hash), chunkName(hash, 0), chunkName(hash, 1)]) {
        expect(await raw.pttl(key)).toBeGreaterThan(STORED_TTL_MS - DAY_MS);
      }
    });

    it('leaves only chunks that expire within a day when an upload fails halfway', async () => {
      const store = await open();
      const hash = newHash();
      // the file is shorter than the size given: the third chunk cannot be read
      const path = fileWith(randomBytes(2 * CHUNK_BYTES + 5));
      await expect(store.putBlob(hash, 3 * CHUNK_BYTES, path)).rejects.toThrow(/ended at/);
      expect(await raw.exists(metaName(hash))).toBe(0);
      for (const key of [chunkName(hash, 0), chunkName(hash, 1)]) {
        const ttl = await raw.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(PENDING_CHUNK_TTL_MS);
      }
      expect(await store.hasBlob(hash)).toBe(false);
    });

    it('treats metadata that does not make sense as no blob', async () => {
      const store = await open();
      for (const meta of ['not json', '{"size":10}', '{"size":10,"chunks":0}', '{"size":-1,"chunks":0}', '{"size":1,"chunks":1e9}', '{"size":1e15,"chunks":1e9}']) {
        const hash = newHash();
        await raw.set(metaName(hash), meta);
        await raw.set(chunkName(hash, 0), 'x');
        expect(await store.hasBlob(hash), meta).toBe(false);
        expect(await readBlob(store, hash), meta).toBeNull();
      }
    });
  });

  describe('a read-only remote', () => {
    it('refuses to put a manifest or a blob, and writes nothing', async () => {
      const store = await open({ readOnly: true });
      const key = newKey();
      const hash = newHash();
      await expect(store.putManifest(key, Buffer.from('{}'))).rejects.toThrow(/read-only/);
      await expect(store.putBlob(hash, 3, fileWith(Buffer.from('abc')))).rejects.toThrow(/read-only/);
      // one EXISTS per key: in a cluster they live in different slots
      for (const name of [entryName(key), metaName(hash), chunkName(hash, 0)]) expect(await raw.exists(name)).toBe(0);
    });

    it('still reads what a writer put', async () => {
      const writer = await open();
      const reader = await open({ readOnly: true });
      const key = newKey();
      await writer.putManifest(key, Buffer.from('{"a":1}'));
      expect(reader.readOnly).toBe(true);
      expect(await reader.getManifest(key)).toEqual(Buffer.from('{"a":1}'));
    });
  });

  describe('locks', () => {
    it('makes a second taker wait until the first releases, through several leases', async () => {
      const first = await open();
      const second = await open();
      const key = newKey();
      const firstTold: Told = { waits: 0, takeovers: [], lost: [] };
      const held = await takeLock(first, key, firstTold);
      expect(held.waited).toBe(false);
      expect(firstTold.waits).toBe(0);
      const told: Told = { waits: 0, takeovers: [], lost: [] };
      let acquired = false;
      const taking = takeLock(second, key, told).then((lock) => {
        acquired = true;
        return lock;
      });
      await new Promise((r) => setTimeout(r, 4 * LEASE_MS));
      // the first holder's renewals keep it through several leases
      expect(told.waits).toBe(1);
      expect(acquired).toBe(false);
      expect(held.lostReason()).toBeNull();
      await held.release();
      const lock = await taking;
      expect(lock.waited).toBe(true);
      expect(told).toEqual({ waits: 1, takeovers: [], lost: [] });
      await lock.release();
      expect(await raw.exists(lockName(key))).toBe(0);
    });

    it('lets another take the lock once a holder that stopped renewing loses its lease', async () => {
      const dead = await open();
      const key = newKey();
      await takeLock(dead, key);
      // never released: closing stops the renewals, as a killed process would
      await dead.close();
      const other = await open();
      const told: Told = { waits: 0, takeovers: [], lost: [] };
      const lock = await takeLock(other, key, told);
      expect(told.waits).toBe(1);
      expect(lock.waited).toBe(true);
      await lock.release();
    });

    it('holds a lock with the lease it is given, and names its holder in the value', async () => {
      const store = await open();
      const key = newKey();
      const lock = await takeLock(store, key);
      const ttl = await raw.pttl(lockName(key));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(LEASE_MS);
      expect(await raw.get(lockName(key))).toMatch(/^dcache-lock \{"host":"test-host","pid":\d+,"id":"[0-9a-f-]{36}"\}$/);
      await lock.release();
    });

    it('does not release a lock that another holder took over, and learns it lost it', async () => {
      const first = await open();
      const key = newKey();
      const told: Told = { waits: 0, takeovers: [], lost: [] };
      const stale = await takeLock(first, key, told);
      // as if the lease had run out and another machine had taken the lock
      await raw.set(lockName(key), 'dcache-lock {"host":"other","pid":7,"id":"x"}', 'PX', 60_000);
      // its next renewal finds the lock another's
      await waitUntil('the holder learns it lost the lock', () => stale.lostReason() !== null);
      expect(stale.lostReason()).toMatch(/lapsed/);
      expect(told.lost).toHaveLength(1);
      await stale.release();
      expect(await raw.get(lockName(key))).toBe('dcache-lock {"host":"other","pid":7,"id":"x"}');
      await raw.del(lockName(key));
    });

    it('takes over, after one lease, a lock key that has no expiry', async () => {
      const store = await open();
      const key = newKey();
      await raw.set(lockName(key), 'dcache-lock {"host":"old","pid":1,"id":"y"}');
      const told: Told = { waits: 0, takeovers: [], lost: [] };
      const lock = await takeLock(store, key, told);
      expect(told.takeovers).toEqual(['its lock key has no expiry']);
      expect(await raw.pttl(lockName(key))).toBeGreaterThan(0);
      await lock.release();
    });

    it('takes over, after one lease, a lock key whose value dcache did not write', async () => {
      const store = await open();
      const key = newKey();
      await raw.set(lockName(key), 'held by hand', 'PX', 3_600_000);
      const told: Told = { waits: 0, takeovers: [], lost: [] };
      const lock = await takeLock(store, key, told);
      expect(told.takeovers).toEqual(['its lock key was not written by dcache']);
      await lock.release();
      expect(await raw.exists(lockName(key))).toBe(0);
    });

    it('stops waiting after the longest wait and says so', async () => {
      const first = await open();
      const second = await open();
      const key = newKey();
      const held = await takeLock(first, key);
      let timedOut = 0;
      const outcome = await second.lock!(key, { ...TIMING, maxWaitMs: 3 * LEASE_MS }, ME, {
        onWait: () => {},
        onProgress: () => {},
        onTakeover: () => {},
        onTimeout: () => void (timedOut += 1),
        giveUp: () => false,
        onLost: () => {},
      });
      expect(outcome.kind).toBe('timed-out');
      expect(timedOut).toBe(1);
      await held.release();
    });

    it('makes a read-only remote wait for a held lock but never take one', async () => {
      const writer = await open();
      const reader = await open({ readOnly: true });
      const key = newKey();
      const told: Told = { waits: 0, takeovers: [], lost: [] };
      const free = await takeLock(reader, key, told);
      expect(free.waited).toBe(false);
      expect(told.waits).toBe(0);
      expect(await raw.exists(lockName(key))).toBe(0);
      await free.release();

      const held = await takeLock(writer, key);
      const waiting = takeLock(reader, key, told);
      await waitUntil('the reader waits', () => told.waits === 1);
      await held.release();
      const after = await waiting;
      expect(told.waits).toBe(1);
      expect(after.waited).toBe(true);
      expect(await raw.exists(lockName(key))).toBe(0);
    });
  });

  it('lets the process exit once closed, with a lock left held', async () => {
    const result = await runScript([
      `const store = await openRedisRemote(spec(${JSON.stringify(url)}));`,
      `await store.putManifest('${newKey()}' as never, Buffer.from('{}'));`,
      `await store.lock!('${newKey()}' as never, timing, me, hooks);`,
      `await store.close();`,
    ]);
    expect(result).toEqual({ code: 0, signal: null, output: 'done' });
  });
});

describe('a single Redis', () => {
  it('uses the database named by the path of the URL', async () => {
    const store = await openStore(`${redis.url()}/3`);
    const key = newKey();
    await store.putManifest(key, Buffer.from('{}'));
    const db3 = new Redis({ host: '127.0.0.1', port: redis.port, db: 3 });
    try {
      expect(await db3.exists(entryName(key))).toBe(1);
      expect(await raw.exists(entryName(key))).toBe(0);
    } finally {
      db3.disconnect();
    }
  });

  it('refuses a database the server does not have, rather than use database 0', async () => {
    const store = await openStore(`${redis.url()}/99`);
    await expect(store.putManifest(newKey(), Buffer.from('{}'))).rejects.toThrow(/connecting: ERR DB index is out of range/);
  });

  it('sends nothing before or besides the commands themselves', async () => {
    const before = await commandCounts(raw);
    const store = await openStore();
    await store.getManifest(newKey());
    const after = await commandCounts(raw);
    // the INFO that reads the counts counts too
    expect(countsBetween(before, after)).toEqual({ get: 1, info: 1 });
  });
});

describe('credentials', () => {
  let guarded: RedisServer;
  beforeAll(async () => {
    guarded = await RedisServer.start(['--requirepass', 'secret']);
  });
  afterAll(async () => {
    await guarded?.stop();
  });

  it('connects with the password in the URL', async () => {
    const store = await openStore(guarded.url(':secret@'));
    const key = newKey();
    await store.putManifest(key, Buffer.from('{}'));
    expect(await store.getManifest(key)).toEqual(Buffer.from('{}'));
  });

  it('names the remote by its label, without the password, when the password is wrong', async () => {
    const store = await openStore(guarded.url(':hunter2@'));
    expect(store.label).not.toContain('hunter2');
    const error = await store.getManifest(newKey()).then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toContain(store.label);
    expect(error?.message).not.toContain('hunter2');
  });

  it('prints nothing, and never the password, even with DEBUG=*', async () => {
    const result = await runScript(
      [
        `const store = await openRedisRemote(spec(${JSON.stringify(guarded.url(':secret@'))}));`,
        `await store.putManifest('${newKey()}' as never, Buffer.from('{}'));`,
        `await store.close();`,
      ],
      { DEBUG: '*' },
    );
    expect(result).toEqual({ code: 0, signal: null, output: 'done' });
  });

  it('fails without a password', async () => {
    const store = await openStore(guarded.url());
    await expect(store.getManifest(newKey())).rejects.toThrow(/NOAUTH|auth/i);
  });
});

describe('a remote that is down or hanging', () => {
  it('rejects every call when nothing listens on the port', async () => {
    const port = await freePort();
    const store = await openStore(`redis://127.0.0.1:${port}`, { timeoutMs: TIMEOUT_MS });
    await expect(store.getManifest(newKey())).rejects.toThrow(/ECONNREFUSED/);
    await expectEveryMethodRejects(store);
  });

  it('rejects every call when the server accepts but never answers', async () => {
    const silent = await HangingServer.start();
    try {
      const store = await openStore(silent.url(), { timeoutMs: TIMEOUT_MS });
      await expect(store.getManifest(newKey())).rejects.toThrow(/no answer/);
      await expectEveryMethodRejects(store);
    } finally {
      await silent.stop();
    }
  });

  it('rejects when the server stops answering after connecting', async () => {
    const silent = await HangingServer.start();
    try {
      // a password makes the client wait for AUTH's answer while connecting
      const store = await openStore(silent.url().replace('redis://', 'redis://:pw@'), { timeoutMs: TIMEOUT_MS });
      await expect(store.getManifest(newKey())).rejects.toThrow(/connecting: no answer/);
    } finally {
      await silent.stop();
    }
  });

  it('does not reconnect once the server has dropped the connection', async () => {
    const store = await openStore();
    const key = newKey();
    await store.putManifest(key, Buffer.from('{}'));
    const own = await raw.client('ID');
    const clients = ((await raw.client('LIST')) as string).split('\n').filter((line) => line.startsWith('id='));
    for (const line of clients) {
      const id = Number(/^id=(\d+)/.exec(line)?.[1]);
      if (id !== own) await raw.client('KILL', 'ID', String(id));
    }
    // long enough for a client that reconnects (after 50-250 ms) to be back
    await new Promise((r) => setTimeout(r, 1_000));
    await expect(store.getManifest(key)).rejects.toThrow(store.label);
  });

  it('lets the process exit once closed, after a hanging server and a lock left held', async () => {
    const silent = await HangingServer.start();
    try {
      const result = await runScript([
        `const hanging = await openRedisRemote(spec(${JSON.stringify(silent.url())}));`,
        `await hanging.getManifest('0000000000000000' as never).then(() => process.exit(3), () => {});`,
        `await hanging.close();`,
        `const live = await openRedisRemote(spec(${JSON.stringify(redis.url())}));`,
        `await live.lock!('${newKey()}' as never, timing, me, hooks);`,
        `await live.close();`,
      ]);
      expect(result).toEqual({ code: 0, signal: null, output: 'done' });
    } finally {
      await silent.stop();
    }
  });
});

describe('a Redis Cluster', () => {
  // the node in the URL, which every store meets first
  const seed = () => cluster.ports[0]!;

  it('switches to the cluster at its first redirected command, and meets no MOVED, ASK or CROSSSLOT after it', async () => {
    const key = await newKeyServedBy(clusterRaw, (port) => port !== seed());
    const hash = newHash();
    const bytes = randomBytes(2 * CHUNK_BYTES + 7);
    const before = await errorCounts(clusterRaw);
    const store = await openStore(cluster.url());
    await store.putManifest(key, Buffer.from('{"a":1}'));
    expect(await store.getManifest(key)).toEqual(Buffer.from('{"a":1}'));
    await store.putBlob(hash, bytes.length, fileWith(bytes));
    expect(await store.hasBlob(hash)).toBe(true);
    expect((await readBlob(store, hash))?.bytes.equals(bytes)).toBe(true);
    const lock = await takeLock(store, key);
    await lock.release();
    // the one MOVED is the SET that showed the node to be part of a cluster
    expect(countsBetween(before, await errorCounts(clusterRaw))).toEqual({ MOVED: 1 });
    expect(await clusterRaw.exists(lockName(key))).toBe(0);
  });

  it('switches to the cluster when the node refuses a whole MULTI, as a read-only store’s first look at a lock', async () => {
    const key = await newKeyServedBy(clusterRaw, (port) => port !== seed());
    const before = await errorCounts(clusterRaw);
    const reader = await openStore(cluster.url(), { readOnly: true });
    // GET and PTTL of the lock, in one MULTI: both redirected, so EXEC refuses
    const free = await takeLock(reader, key);
    expect(free.waited).toBe(false);
    expect(countsBetween(before, await errorCounts(clusterRaw))).toEqual({ MOVED: 2, EXECABORT: 1 });
    const writer = await openStore(cluster.url());
    await writer.putManifest(key, Buffer.from('{"a":1}'));
    expect(await reader.getManifest(key)).toEqual(Buffer.from('{"a":1}'));
  });

  it('sends the node in the URL nothing but the commands themselves while their keys live there', async () => {
    const key = await newKeyServedBy(clusterRaw, (port) => port === seed());
    const node = new Redis({ host: '127.0.0.1', port: seed() });
    try {
      const before = await commandCounts(node);
      const store = await openStore(cluster.url());
      await store.putManifest(key, Buffer.from('{}'));
      expect(await store.getManifest(key)).toEqual(Buffer.from('{}'));
      // the INFO that reads the counts counts too
      expect(countsBetween(before, await commandCounts(node))).toEqual({ set: 1, get: 1, info: 1 });
    } finally {
      node.disconnect();
    }
  });

  it('keeps a blob’s metadata and chunks in the slot of its hash, on one node', async () => {
    const store = await openStore(cluster.url());
    const hash = newHash();
    const bytes = randomBytes(2 * CHUNK_BYTES + 1);
    await store.putBlob(hash, bytes.length, fileWith(bytes));
    const names = [metaName(hash), chunkName(hash, 0), chunkName(hash, 1), chunkName(hash, 2)];
    const slots = await Promise.all(names.map((name) => clusterRaw.cluster('KEYSLOT', name)));
    expect(slots).toEqual(Array(names.length).fill(await clusterRaw.cluster('KEYSLOT', hash)));
    // one EXISTS over all of them, straight to their node: legal only within one slot
    const node = new Redis({ host: '127.0.0.1', port: await portServing(clusterRaw, metaName(hash)) });
    try {
      expect(await node.exists(...names)).toBe(names.length);
    } finally {
      node.disconnect();
    }
  });

  it('keeps an entry’s manifest and lock in the slot of its key, on one node', async () => {
    const store = await openStore(cluster.url());
    const key = newKey();
    await store.putManifest(key, Buffer.from('{}'));
    const lock = await takeLock(store, key);
    const slots = await Promise.all([entryName(key), lockName(key)].map((name) => clusterRaw.cluster('KEYSLOT', name)));
    expect(slots).toEqual([await clusterRaw.cluster('KEYSLOT', key), await clusterRaw.cluster('KEYSLOT', key)]);
    const node = new Redis({ host: '127.0.0.1', port: await portServing(clusterRaw, entryName(key)) });
    try {
      expect(await node.exists(entryName(key), lockName(key))).toBe(2);
    } finally {
      node.disconnect();
      await lock.release();
    }
  });

  it('refuses a database other than 0, which a cluster does not have', async () => {
    const store = await openStore(`${cluster.url()}/3`);
    await expect(store.putManifest(newKey(), Buffer.from('{}'))).rejects.toThrow(/connecting: ERR SELECT is not allowed in cluster mode/);
  });

  it('lets the process exit once closed after switching to the cluster with a lock left held, printing nothing even with DEBUG=*', async () => {
    const key = await newKeyServedBy(clusterRaw, (port) => port !== seed());
    const result = await runScript(
      [
        `const store = await openRedisRemote(spec(${JSON.stringify(cluster.url())}));`,
        `await store.putManifest('${key}' as never, Buffer.from('{}'));`,
        `await store.lock!('${key}' as never, timing, me, hooks);`,
        `await store.close();`,
      ],
      { DEBUG: '*' },
    );
    expect(result).toEqual({ code: 0, signal: null, output: 'done' });
  });
});

describe('a Redis Cluster with a password, and as it goes down', () => {
  const PASSWORD = 'cluster-secret';
  let guarded: RedisCluster;
  let guardedRaw: Cluster;
  // A cluster per test: each stops nodes. Its nodes find a peer gone within
  // half a second (the default is 15 s), so the cluster soon says it is down.
  beforeEach(async () => {
    guarded = await RedisCluster.start(['--requirepass', PASSWORD, '--cluster-node-timeout', '500']);
    guardedRaw = new Cluster([{ host: '127.0.0.1', port: guarded.ports[0]! }], { lazyConnect: true, redisOptions: { password: PASSWORD } });
    await guardedRaw.connect();
  });
  afterEach(async () => {
    guardedRaw?.disconnect();
    await guarded?.stop();
  });
  const url = () => guarded.url(`:${PASSWORD}@`);

  it('reaches every node with the password in the URL, and keeps it out of the label', async () => {
    const store = await openStore(url());
    expect(store.label).not.toContain(PASSWORD);
    const served = new Set<number>();
    while (served.size < guarded.nodes.length) {
      const key = newKey();
      await store.putManifest(key, Buffer.from(key));
      expect(await store.getManifest(key)).toEqual(Buffer.from(key));
      served.add(await portServing(guardedRaw, entryName(key)));
    }
  });

  it('fails with the cluster’s own reason, CLUSTERDOWN, once a master is gone', async () => {
    const key = await newKeyServedBy(guardedRaw, (port) => port === guarded.ports[1]);
    // the default timeout: the reason must come before any deadline, even on a busy machine
    const switched = await openStore(url());
    await switched.putManifest(key, Buffer.from('{}'));
    await guarded.nodes[2]!.stop();
    await guarded.waitForState('fail', [0, 1]);
    await expect(switched.getManifest(key)).rejects.toThrow(/CLUSTERDOWN/);
    const fresh = await openStore(url());
    await expect(fresh.getManifest(key)).rejects.toThrow(/CLUSTERDOWN/);
  });

  it('rejects every call once every node is gone, whether it had switched to the cluster or not', async () => {
    const key = await newKeyServedBy(guardedRaw, (port) => port !== guarded.ports[0]);
    const switched = await openStore(url());
    await switched.putManifest(key, Buffer.from('{}'));
    const unused = await openStore(url());
    guardedRaw.disconnect();
    await guarded.stop();
    await expectEveryMethodRejects(switched);
    await expectEveryMethodRejects(unused);
  });
});
