import { randomUUID } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { DeadlineError, raceDeadline, STRETCH } from '../../core/deadline.js';
import { displayHash, type BlobHash, type CacheKey } from '../../core/hash.js';
import { HeldLeases, Wait, type HeldLock, type LeaseTiming, type LockOutcome, type WaitHooks } from '../../ports/lease.js';
import type { Host } from '../../ports/host.js';
import { RemoteError, type RemoteSpec, type RemoteBackend } from './backend.js';
import { parseDocument, SMALL_DOCUMENT_LIMITS } from '../../core/json-document.js';

// A remote cache in Redis (redis:// or rediss://), a single server or a
// Redis Cluster, shared by every machine that points at it. Keys, all under
// one versioned prefix:
//
//   dcache:v2:{<key>}:entry         a manifest's raw JSON bytes
//   dcache:v2:{<key>}:lock          single flight: a random token, with a lease
//   dcache:v2:{<hash>}:blob         a blob's metadata, JSON {"size":N,"chunks":C}
//   dcache:v2:{<hash>}:blob:<i>     the blob's bytes, in pieces of CHUNK_BYTES
//
// The braces are Redis Cluster hash tags: a key's slot is the hash of the
// text between them only, so an entry's keys share one slot, and a blob's
// metadata and chunks another. Every command that names several keys (EXISTS
// over chunks, the MULTI that seals a blob, GET and PTTL of a lock) names
// keys of one slot, which a cluster requires (else CROSSSLOT). A single
// server ignores the braces.
//
// Order of writes: a blob's chunks, then its metadata, then (the caller's
// job) the manifest naming it. So a reader that finds a manifest finds its
// blobs, unless Redis evicted or expired them, which hasBlob and getBlob
// report as absent. Nothing lives for ever: see the TTLs below, and give the
// server a maxmemory policy (allkeys-lru) if it must stay bounded in size.
//
// A cluster is found out, not configured: the client connects to the node in
// the URL as to a single server, and the first command that node redirects
// (MOVED or ASK: the key's slot lives on another node) switches the store to
// ioredis's cluster client, seeded with that node, and is sent again. On a
// single server nothing changes and nothing is asked beforehand.

const PREFIX = 'dcache:v2:';

// Blobs move in pieces of this size: large enough that a GB costs a few
// hundred round trips, small enough that neither side holds much of a blob in
// memory, and far below Redis's 512 MB limit on one value.
export const CHUNK_BYTES = 4 << 20;

// chunk keys per EXISTS: 4 GiB of blob per round trip
const EXISTS_BATCH = 1024;

const DAY_MS = 24 * 60 * 60 * 1000;
// Chunks are written with this TTL: an upload that dies before its metadata
// is written leaves nothing behind for longer than a day.
export const PENDING_CHUNK_TTL_MS = DAY_MS;
// A blob, once its metadata is written, and a manifest live this long after
// their last upload. An entry still in use is uploaded again when it goes
// stale locally, which renews it.
export const STORED_TTL_MS = 30 * DAY_MS;

// how often, at least, a waiting machine asks whether the lock is free
export const LOCK_POLL_MS = 200;
// A lock's value: this prefix and JSON naming its holder.
const TOKEN_PREFIX = 'dcache-lock ';

// Moving one chunk may take the timeout plus this long per byte (1 s per
// MiB), so a link of 1 MiB/s can still move blobs, while a server that stops
// answering halfway through a blob is found out within seconds.
const MS_PER_CHUNK_BYTE = 1000 / (1 << 20);

// what ioredis rejects with once the connection is gone
const CONNECTION_CLOSED = 'Connection is closed.';
// what its cluster client rejects with when no node could be reached
const NO_NODE_AVAILABLE = 'None of startup nodes is available';

// after close(), how long an unanswered socket may linger before it is destroyed
const DISCONNECT_GRACE_MS = 500;

// PEXPIRE / DEL the lock only while it still holds our token: a holder whose
// lease ran out and was taken over must not touch the new holder's lock.
const RENEW_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

interface BlobMeta {
  size: number;
  chunks: number;
}

// A connection to a single server, or to every node of a cluster: the same
// commands on both.
type Client = Redis | Cluster;

// What the store needs of the ioredis module: its two clients.
interface IoRedis {
  Redis: typeof Redis;
  Cluster: typeof Cluster;
}

// Opens a Redis remote. It starts connecting at once but does not wait: a
// remote that is down or hanging makes the first method called reject,
// within about spec.timeoutMs, and every later one at once.
export async function openRedisRemote(spec: RemoteSpec): Promise<RemoteBackend> {
  const ioredis = await importQuietly();
  return new RedisRemote(spec, clientSettings(spec), ioredis);
}

// ioredis logs every command it sends, AUTH's password and blob bytes
// included, to stderr when DEBUG names it (and DEBUG=* is set in many an
// environment dcache runs in); stderr belongs to the wrapped command, and
// credentials are never printed. Its `debug` reads DEBUG once, when loaded:
// so it is loaded with DEBUG unset.
async function importQuietly(): Promise<IoRedis> {
  const saved = process.env.DEBUG;
  delete process.env.DEBUG;
  try {
    const { Redis, Cluster } = await import('ioredis');
    return { Redis, Cluster };
  } finally {
    if (saved !== undefined) process.env.DEBUG = saved;
  }
}

interface ClientSettings {
  host: string;
  port: number;
  db: number;
  // what every connection shares, to a single server or to a cluster's nodes
  node: RedisOptions;
}

// Connection settings from the URL: redis[s]://[user:password@]host[:port][/db].
// Built here rather than by ioredis from the URL so that nothing else in the
// URL (query parameters) changes how it connects. The database is kept apart
// from the client's options: the store selects it itself (see connectServer).
function clientSettings(spec: RemoteSpec): ClientSettings {
  const { url, timeoutMs } = spec;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const dbText = url.pathname.replace(/^\//, '');
  if (!/^\d*$/.test(dbText)) throw new RemoteError(`${spec.label}: the path must be a database number, like /0`);
  const node: RedisOptions = {
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    // A cluster's nodes are reached by the addresses they announce, often
    // IPs: their certificates are checked against the URL's host name.
    tls: url.protocol === 'rediss:' ? (isIP(host) ? {} : { servername: host }) : undefined,
    // A connection is tried once, and a command that loses its connection
    // is not sent again on another. The timeout is the store's own deadline
    // (src/deadline.ts), which does not count time the process could not
    // run; ioredis's timer, which does, only bounds it in wall time.
    connectTimeout: timeoutMs * STRETCH,
    maxRetriesPerRequest: 0,
    // The fewest round trips before the first command: RESP2 (every Redis
    // since 1.2 speaks it; no HELLO), no INFO ready check, no CLIENT SETINFO.
    protocol: 2,
    enableReadyCheck: false,
    disableClientInfo: true,
    disconnectTimeout: DISCONNECT_GRACE_MS,
  };
  return { host, port: url.port === '' ? 6379 : Number(url.port), db: dbText === '' ? 0 : Number(dbText), node };
}

// The client for a single server, which is also how a cluster is first met.
// It connects once, when told to, and never again: a remote that fails is
// dropped for the rest of the process (the caller's rule), so retrying would
// only keep the process alive. No command waits for a connection in a
// queue: each either goes out at once or fails.
function serverOptions(settings: ClientSettings): RedisOptions {
  return {
    ...settings.node,
    host: settings.host,
    port: settings.port,
    lazyConnect: true,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  };
}

// The cluster client, seeded with the URL's node: it asks that node (CLUSTER
// SLOTS) which node serves which slot, and connects to each on first use.
// Like the single-server client, it never reconnects once the cluster has
// gone; each command's own deadline bounds every wait below.
function clusterOptions(settings: ClientSettings, timeoutMs: number): ClusterOptions {
  return {
    redisOptions: settings.node,
    lazyConnect: true,
    // Once every node is gone, the cluster client ends instead of starting over.
    clusterRetryStrategy: () => null,
    // A node's connection opens on the first command for it; commands sent
    // meanwhile wait for that connection (bounded by connectTimeout) rather
    // than fail. Nothing else is queued: once ended, the client never
    // connects again and fails every command at once.
    enableOfflineQueue: true,
    // The slot map comes with the connection (CLUSTER SLOTS); CLUSTER INFO
    // would cost one more round trip, and a cluster that is down says so in
    // its answer to the command itself.
    enableReadyCheck: false,
    // The slot map is asked for on a connection of ioredis's own, which
    // disconnect() does not close: its timer would hold the process this
    // long after the store gave up, so it is the budget itself, in wall
    // time (not STRETCH times it, as connectTimeout is). The price: a
    // process held up longer than the budget while the map is on its way
    // gives up on it, and goes on without the remote for this call.
    slotsRefreshTimeout: timeoutMs,
    // No timer: the map is refreshed when a node redirects a command, which
    // is all a short-lived process needs, and a timer would keep it alive.
    slotsRefreshInterval: 0,
    // CLUSTERDOWN fails at once, with that reason, rather than after retries.
    retryDelayOnClusterDown: 0,
    // The seed's host name is kept, not resolved here (without a deadline):
    // the socket resolves it, within connectTimeout.
    dnsLookup: (hostname, callback) => callback(null, hostname),
  };
}

class RedisRemote implements RemoteBackend {
  readonly label: string;
  readonly readOnly: boolean;
  private readonly timeoutMs: number;
  private readonly chunkTimeoutMs: number;
  // the connection to the URL's server, the first client used
  private readonly server: Redis;
  // the client commands go to: `server`, or the cluster client once the
  // server has shown itself a cluster node
  private client: Client;
  // the cluster client, once one is made; set once, by useCluster()
  private cluster: Cluster | null = null;
  private clusterReady: Promise<Cluster> | null = null;
  // settles once: the first failure to connect is every method's failure
  private readonly connected: Promise<void>;
  // the last error a client reported, for messages
  private lastError: Error | null = null;
  // leases of locks not yet released, whose renewals close() stops
  private readonly leases = new HeldLeases();
  private closed = false;
  // why the connection was given up after it had connected, if it was
  private broken: string | null = null;

  constructor(
    spec: RemoteSpec,
    private readonly settings: ClientSettings,
    private readonly ioredis: IoRedis,
  ) {
    this.label = spec.label;
    this.readOnly = spec.readOnly;
    this.timeoutMs = spec.timeoutMs;
    this.chunkTimeoutMs = spec.timeoutMs + Math.ceil(CHUNK_BYTES * MS_PER_CHUNK_BYTE);
    this.server = new ioredis.Redis(serverOptions(settings));
    this.client = this.server;
    this.listenForErrors(this.server);
    this.connected = raceDeadline(this.connectServer(), this.timeoutMs).catch((err: unknown) => {
      this.server.disconnect();
      throw this.failure('connecting', err, this.timeoutMs);
    });
    // A failure nobody asks about (the remote was never used) is not an error.
    this.connected.catch(() => {});
  }

  async getManifest(key: CacheKey): Promise<Buffer | null> {
    return this.run(`GET entry ${key}`, (c) => c.getBuffer(entryKey(key)));
  }

  // Checks that every chunk is there before writing a byte, then fetches the
  // chunks one at a time, each written (and awaited) before the next is
  // asked for: at most one chunk of the blob is in memory.
  // The metadata and the first chunk come in one round trip (the same slot,
  // one pipeline): a blob of one chunk, the usual size, costs no other.
  async getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void): Promise<boolean> {
    const [metaText, first] = await this.run(
      `GET blob ${displayHash(hash)}`,
      async (c) => {
        const replies = (await c.pipeline().get(metaKey(hash)).getBuffer(chunkKey(hash, 0)).exec()) ?? [];
        for (const [err] of replies) if (err) throw err;
        return [replies[0]?.[1] as string | null, replies[1]?.[1] as Buffer | null] as const;
      },
      this.chunkTimeoutMs,
    );
    const meta = metaText === null ? null : parseMeta(metaText);
    if (meta === null || (meta.chunks > 0 && first === null)) return false;
    // Before a byte is written, every chunk is known to be there.
    if (meta.chunks > 1 && !(await this.allChunksExist(hash, meta))) return false;
    let received = 0;
    for (let i = 0; i < meta.chunks; i++) {
      const chunk = i === 0 ? first : await this.run(`GET blob ${displayHash(hash)} chunk ${i}`, (c) => c.getBuffer(chunkKey(hash, i)), this.chunkTimeoutMs);
      if (chunk === null) {
        if (i === 0) return false;
        // Part of it has been written: absent is no longer an honest answer.
        throw new RemoteError(`${this.label}: blob ${displayHash(hash)} lost chunk ${i} while it was being read`);
      }
      received += chunk.length;
      if (received > meta.size) throw new RemoteError(`${this.label}: blob ${displayHash(hash)} is larger than its metadata says`);
      await write(chunk);
    }
    if (received !== meta.size) throw new RemoteError(`${this.label}: blob ${displayHash(hash)} is smaller than its metadata says`);
    return true;
  }

  // Present only if its metadata and every one of its chunks are: chunks
  // expire or get evicted on their own.
  async hasBlob(hash: BlobHash): Promise<boolean> {
    const meta = await this.readMeta(hash);
    return meta !== null && (await this.allChunksExist(hash, meta));
  }

  // Reads the file one chunk at a time into one reused buffer and writes each
  // chunk with the short TTL; then, in one MULTI, writes the metadata and
  // gives the chunks the long TTL.
  async putBlob(hash: BlobHash, size: number, path: string, sent?: (bytes: number) => void): Promise<void> {
    this.assertWritable();
    const chunks = Math.ceil(size / CHUNK_BYTES);
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.allocUnsafe(Math.min(size, CHUNK_BYTES));
      for (let i = 0; i < chunks; i++) {
        const length = Math.min(CHUNK_BYTES, size - i * CHUNK_BYTES);
        await readExactly(file, buffer, length, i * CHUNK_BYTES, path);
        // The buffer is refilled only after Redis has answered, so it has been sent.
        const piece = buffer.subarray(0, length);
        await this.run(
          `SET blob ${displayHash(hash)} chunk ${i}`,
          (c) => c.set(chunkKey(hash, i), piece, 'PX', PENDING_CHUNK_TTL_MS),
          this.chunkTimeoutMs,
        );
        sent?.(i * CHUNK_BYTES + length);
      }
    } finally {
      await file.close();
    }
    const meta: BlobMeta = { size, chunks };
    const results = await this.run(`seal blob ${displayHash(hash)}`, (c) => {
      const multi = c.multi().set(metaKey(hash), JSON.stringify(meta), 'PX', STORED_TTL_MS);
      for (let i = 0; i < chunks; i++) multi.pexpire(chunkKey(hash, i), STORED_TTL_MS);
      return multi.exec();
    });
    const lost = (results ?? []).slice(1).some(([err, value]) => err !== null || value !== 1);
    if (results === null || results[0]?.[0] || lost) {
      // A chunk was evicted mid-upload: the server is too full to keep blobs.
      await this.run(`DEL blob ${displayHash(hash)}`, (c) => c.del(metaKey(hash)));
      throw new RemoteError(`${this.label}: blob ${displayHash(hash)} lost chunks while it was being uploaded (is the server full?)`);
    }
  }

  async putManifest(key: CacheKey, bytes: Buffer): Promise<void> {
    this.assertWritable();
    await this.run(`SET entry ${key}`, (c) => c.set(entryKey(key), bytes, 'PX', STORED_TTL_MS));
  }

  // Takes the key's lock: SET NX with a lease, renewed every heartbeat
  // while it still holds our token, and released only if it still does. A
  // lock key with no expiry, or a value dcache did not write (a crashed
  // older version, a hand-made SET), is taken over once it has stood
  // unchanged for a lease.
  //
  // Read-only, it only waits while another machine holds the lock and never
  // takes it: that machine's result can be downloaded, while a lock held
  // here would make others wait for a result that will never be uploaded.
  async lock(key: CacheKey, timing: LeaseTiming, me: Host, hooks: WaitHooks): Promise<LockOutcome> {
    const name = lockKey(key);
    const token = `${TOKEN_PREFIX}${JSON.stringify({ host: me.hostname, pid: me.pid, id: randomUUID() })}`;
    const started = me.wallNow();
    const wait = new Wait(started, timing, hooks);
    // a suspect value (no expiry, not ours) and when it was first seen
    let suspect = null as { value: string; since: number } | null;
    for (;;) {
      if (!this.readOnly) {
        const set = await this.run(`SET lock ${key}`, (c) => c.set(name, token, 'PX', timing.leaseMs, 'NX'));
        if (set === 'OK') return { kind: 'held', lock: this.holdLock(key, name, token, wait.waited, timing, hooks) };
      }
      const [value, ttl] = await this.run(`GET lock ${key}`, async (c) => {
        const replies = await c.multi().get(name).pttl(name).exec();
        return [replies?.[0]?.[1] ?? null, replies?.[1]?.[1] ?? -2] as [string | null, number];
      });
      if (value === null) {
        if (this.readOnly) return { kind: 'held', lock: unlockedLock(wait.waited) };
        continue;
      }
      const holder = describeToken(value);
      const now = me.wallNow();
      if (ttl === -1 || !value.startsWith(TOKEN_PREFIX)) {
        if (suspect?.value !== value) suspect = { value, since: now };
        if (now - suspect.since >= timing.leaseMs) {
          hooks.onTakeover(holder, ttl === -1 ? 'its lock key has no expiry' : 'its lock key was not written by dcache');
          if (this.readOnly) return { kind: 'held', lock: unlockedLock(wait.waited) };
          await this.run(`break lock ${key}`, (c) => c.eval(RELEASE_SCRIPT, 1, name, value));
          suspect = null;
          continue;
        }
      } else {
        suspect = null;
      }
      const ended = await wait.next(holder, now, Math.max(timing.pollMs, LOCK_POLL_MS));
      if (ended !== null) return ended;
    }
  }

  // A lock just taken: renewed every heartbeat while it holds our token.
  private holdLock(key: CacheKey, name: string, token: string, waited: boolean, timing: LeaseTiming, hooks: WaitHooks): HeldLock {
    return this.leases.keep(
      {
        heartbeatMs: timing.heartbeatMs,
        elapsedMs: () => performance.now(),
        renew: async () => {
          const renewed = await this.run(`renew lock ${key}`, (c) => c.eval(RENEW_SCRIPT, 1, name, token, timing.leaseMs));
          return renewed === 1 ? null : 'the lock lapsed and another machine may have taken it (was this process stopped?)';
        },
        giveBack: async () => {
          await this.run(`release lock ${key}`, (c) => c.eval(RELEASE_SCRIPT, 1, name, token));
        },
        onLost: (why) => hooks.onLost(why),
      },
      waited,
    );
  }

  // Drops the connections at once; commands still waiting reject. Locks not
  // released stop being renewed and lapse after their lease.
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.leases.close();
    this.disconnect();
  }

  private assertWritable(): void {
    if (this.readOnly) throw new Error(`${this.label} is read-only`);
  }

  private async readMeta(hash: BlobHash): Promise<BlobMeta | null> {
    const text = await this.run(`GET blob ${displayHash(hash)}`, (c) => c.get(metaKey(hash)));
    return text === null ? null : parseMeta(text);
  }

  // In batches, so that metadata claiming a huge blob costs one round trip, not
  // an array of a billion keys.
  private async allChunksExist(hash: BlobHash, meta: BlobMeta): Promise<boolean> {
    for (let start = 0; start < meta.chunks; start += EXISTS_BATCH) {
      const keys = Array.from({ length: Math.min(EXISTS_BATCH, meta.chunks - start) }, (_, i) => chunkKey(hash, start + i));
      const found = await this.run(`EXISTS blob ${displayHash(hash)} chunks`, (c) => c.exists(...keys));
      if (found !== keys.length) return false;
    }
    return true;
  }

  // Runs one command once connected, within `budgetMs`; every failure names
  // the remote by its label and the command by `what`, never by its data.
  // A command left unanswered breaks the connection for good: every later
  // call fails at once instead of waiting out its own deadline.
  private async run<T>(what: string, command: (client: Client) => Promise<T>, budgetMs = this.timeoutMs): Promise<T> {
    await this.connected;
    if (this.closed) throw new RemoteError(`${this.label}: ${what}: the connection is closed`);
    if (this.broken !== null) throw new RemoteError(`${this.label}: ${what}: ${this.broken}`);
    try {
      return await raceDeadline(this.send(command), budgetMs);
    } catch (err) {
      // a bug in what was sent, not an answer of the server
      if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) throw err;
      if (isProtocolError(err) && this.broken === null) {
        this.broken = NOT_REDIS;
        this.disconnect();
      }
      const failure = this.failure(what, err, budgetMs);
      if (err instanceof DeadlineError && this.broken === null) {
        this.broken = `given up since ${what} had no answer within ${budgetMs / 1000} s`;
        this.disconnect();
      }
      throw failure;
    }
  }

  // Sends a command to the current client. A command the URL's server
  // redirects was not run: the server is a cluster node, so the command is
  // sent once more, through the cluster client. The deadline of run() covers
  // both tries and the switch.
  private async send<T>(command: (client: Client) => Promise<T>): Promise<T> {
    const client = this.client;
    try {
      return await command(client);
    } catch (err) {
      if (client !== this.server || !isRedirection(err)) throw err;
      return command(await this.useCluster());
    }
  }

  // Connects to the URL's server and selects the URL's database, if not 0.
  // SELECT is sent here, not left to ioredis, which reports its failure only
  // as an event and goes on in database 0: a server that refuses it (a
  // cluster node has only database 0; a number past `databases`) fails the
  // connection instead.
  private async connectServer(): Promise<void> {
    await this.server.connect();
    if (this.settings.db !== 0) await this.server.select(this.settings.db);
  }

  // The cluster client, connected; made once, however many commands were
  // redirected at the same time. From then on every command goes to it; the
  // server's connection is closed once the commands already sent on it are
  // answered. A cluster that cannot be reached breaks the store.
  private useCluster(): Promise<Cluster> {
    this.clusterReady ??= this.connectCluster();
    return this.clusterReady;
  }

  private async connectCluster(): Promise<Cluster> {
    // a store closed or given up meanwhile must not open connections again
    if (this.closed || this.broken !== null) throw new RemoteError(this.broken ?? 'the connection is closed');
    const { host, port } = this.settings;
    const cluster = new this.ioredis.Cluster([{ host, port }], clusterOptions(this.settings, this.timeoutMs));
    this.cluster = cluster;
    this.listenForErrors(cluster);
    try {
      await raceDeadline(cluster.connect(), this.timeoutMs);
      if (this.closed) throw new RemoteError('the connection is closed');
    } catch (err) {
      const reason = this.reasonOf(err, this.timeoutMs);
      this.broken ??= `could not connect to the cluster: ${reason}`;
      cluster.disconnect();
      throw new RemoteError(`connecting to the cluster: ${reason}`);
    }
    this.client = cluster;
    // QUIT, not disconnect: it is answered after what was sent before it.
    this.server.quit().catch(() => {});
    return cluster;
  }

  // Without a listener ioredis prints errors itself; they surface here as
  // rejections, and the last one explains a closed connection.
  private listenForErrors(client: Client): void {
    const remember = (err: Error) => {
      this.lastError = err;
    };
    client.on('error', remember);
    // a cluster reports its nodes' errors apart
    client.on('node error', remember);
  }

  private disconnect(): void {
    this.server.disconnect();
    this.cluster?.disconnect();
  }

  private failure(what: string, err: unknown, budgetMs: number): Error {
    return new RemoteError(`${this.label}: ${what}: ${this.reasonOf(err, budgetMs)}`);
  }

  private reasonOf(err: unknown, budgetMs: number): string {
    if (err instanceof DeadlineError) return `no answer within ${budgetMs / 1000} s`;
    if (isProtocolError(err)) return NOT_REDIS;
    const reason = err instanceof Error ? err.message : String(err);
    // ioredis's "Connection is closed." (and its cluster client's "None of
    // startup nodes is available") hides why; the last error says it.
    if (reason === CONNECTION_CLOSED || reason === NO_NODE_AVAILABLE) return this.broken ?? this.lastError?.message ?? reason;
    return reason;
  }
}

// What answers is not a Redis server (an HTTP server, say): ioredis's
// parser says "Unknown RESP type 60 "<". Please report this.", which is
// not for the user to report.
const NOT_REDIS = 'what answers does not speak the Redis protocol; is the URL a Redis server?';

function isProtocolError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'ParserError' || /Unknown RESP type|Protocol error/.test(err.message));
}

// Whether a command failed because the server is a cluster node that does not
// serve the key's slot: MOVED (the slot lives on another node) or ASK (it is
// moving there). Such a command was not run, so it may be sent again. A
// MULTI that queued such a command fails as a whole (EXECABORT), with the
// redirections among its previous errors.
function isRedirection(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (/^(MOVED|ASK) /.test(err.message)) return true;
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) && previous.some(isRedirection);
}

// An entry's keys share the hash tag {<key>}, a blob's keys {<hash>}.
function entryKey(key: CacheKey): string {
  return `${PREFIX}{${key}}:entry`;
}

function lockKey(key: CacheKey): string {
  return `${PREFIX}{${key}}:lock`;
}

function metaKey(hash: BlobHash): string {
  return `${PREFIX}{${hash}}:blob`;
}

function chunkKey(hash: BlobHash, index: number): string {
  return `${PREFIX}{${hash}}:blob:${index}`;
}

// Metadata is untrusted: anything but a well-formed, self-consistent record
// counts as no blob.
function parseMeta(text: string): BlobMeta | null {
  const parsed = parseDocument(text, SMALL_DOCUMENT_LIMITS);
  if (!parsed.ok) return null;
  const value = parsed.value;
  if (typeof value !== 'object' || value === null) return null;
  const { size, chunks } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(chunks)) return null;
  const meta = { size, chunks } as BlobMeta;
  // every chunk holds at least one byte, and there is one if there are bytes
  if (meta.size < 0 || meta.chunks < 0 || meta.chunks > meta.size || (meta.size > 0 && meta.chunks === 0)) return null;
  return meta;
}

async function readExactly(file: FileHandle, buffer: Buffer, length: number, position: number, path: string): Promise<void> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new RemoteError(`${path} ended at ${position + filled} bytes, before the size given`);
    filled += bytesRead;
  }
}


// Who holds a lock, from its value.
function describeToken(value: string): string {
  if (!value.startsWith(TOKEN_PREFIX)) return 'an unknown holder';
  const parsed = parseDocument(value.slice(TOKEN_PREFIX.length), SMALL_DOCUMENT_LIMITS);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return 'an unknown holder';
  const { host, pid } = parsed.value as { host?: unknown; pid?: unknown };
  return typeof host === 'string' && Number.isInteger(pid) ? `process ${String(pid)} on ${host}` : 'an unknown holder';
}

// What a read-only waiter gets once the lock is free: nothing to release.
function unlockedLock(waited: boolean): HeldLock {
  return { waited, lostReason: () => null, release: async () => {} };
}
