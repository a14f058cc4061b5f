import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { listFiles } from './cache-files.js';
import { RedisServer } from './servers/redis.js';
import { WebDavServer } from './servers/webdav.js';

// The remotes, behind one face so that a test runs against both. Each test
// gets an empty remote (reset), and the test may look at and tamper with
// what is stored, as an attacker or a failing disk would.

export interface Backend {
  readonly name: 'redis' | 'http';
  // the --remote URL of this test's empty remote
  url(): string;
  // `user:password@` in the URL (HTTP servers here do not check it)
  urlWithAuth(auth: string): string;
  reset(): Promise<void>;
  // what is stored under the blob `hash`, or null
  blob(hash: string): Promise<Buffer | null>;
  // replaces the blob `hash` with `bytes` (a corruption)
  setBlob(hash: string, bytes: Buffer): Promise<void>;
  dropBlob(hash: string): Promise<void>;
  manifest(key: string): Promise<Buffer | null>;
  setManifest(key: string, bytes: Buffer): Promise<void>;
  // how many things are stored at all
  count(): Promise<number>;
  stop(): Promise<void>;
}

// Rewrites the entry `key` on the remote without the copies of its small
// blobs that travel inside it ("inline"), as a dcache without them wrote it:
// its blobs can then come only from the blobs themselves.
export async function dropInlineCopies(backend: Backend, key: string): Promise<void> {
  const bytes = await backend.manifest(key);
  if (bytes === null) throw new Error(`no entry ${key} on the remote`);
  const manifest = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  delete manifest.inline;
  await backend.setManifest(key, Buffer.from(JSON.stringify(manifest)));
}

export class RedisBackend implements Backend {
  readonly name = 'redis';
  private constructor(
    readonly server: RedisServer,
    readonly client: Redis,
  ) {}

  static async start(args: string[] = []): Promise<RedisBackend> {
    const server = await RedisServer.start(args);
    const password = args.includes('--requirepass') ? args[args.indexOf('--requirepass') + 1] : undefined;
    const client = new Redis({ host: '127.0.0.1', port: server.port, password, lazyConnect: true });
    await client.connect();
    return new RedisBackend(server, client);
  }

  url(): string {
    return this.server.url();
  }

  urlWithAuth(auth: string): string {
    return this.server.url(auth);
  }

  async reset(): Promise<void> {
    await this.client.select(0);
    await this.client.flushall();
  }

  async blob(hash: string): Promise<Buffer | null> {
    const meta = await this.client.get(`dcache:v2:{${hash}}:blob`);
    if (meta === null) return null;
    const { chunks } = JSON.parse(meta) as { chunks: number };
    const pieces: Buffer[] = [];
    for (let i = 0; i < chunks; i++) pieces.push((await this.client.getBuffer(`dcache:v2:{${hash}}:blob:${i}`)) ?? Buffer.alloc(0));
    return Buffer.concat(pieces);
  }

  async setBlob(hash: string, bytes: Buffer): Promise<void> {
    await this.dropBlob(hash);
    await this.client.set(`dcache:v2:{${hash}}:blob:0`, bytes);
    await this.client.set(`dcache:v2:{${hash}}:blob`, JSON.stringify({ size: bytes.length, chunks: bytes.length === 0 ? 0 : 1 }));
  }

  async dropBlob(hash: string): Promise<void> {
    const keys = await this.client.keys(`dcache:v2:{${hash}}:blob*`);
    if (keys.length > 0) await this.client.del(...keys);
  }

  manifest(key: string): Promise<Buffer | null> {
    return this.client.getBuffer(`dcache:v2:{${key}}:entry`);
  }

  async setManifest(key: string, bytes: Buffer): Promise<void> {
    await this.client.set(`dcache:v2:{${key}}:entry`, bytes);
  }

  count(): Promise<number> {
    return this.client.dbsize();
  }

  async stop(): Promise<void> {
    this.client.disconnect();
    await this.server.stop();
  }
}

export class WebDavBackend implements Backend {
  readonly name = 'http';
  private namespace = 0;

  private constructor(readonly server: WebDavServer) {}

  static async start(): Promise<WebDavBackend> {
    return new WebDavBackend(await WebDavServer.start());
  }

  // a fresh directory per test: nginx keeps no state but its files
  private get base(): string {
    return `team/run-${this.namespace}`;
  }

  url(): string {
    return this.server.url(this.base);
  }

  urlWithAuth(auth: string): string {
    return this.url().replace('http://', `http://${auth}`);
  }

  async reset(): Promise<void> {
    this.namespace += 1;
  }

  private file(...parts: string[]): string {
    return join(this.server.www, this.base, ...parts);
  }

  async blob(hash: string): Promise<Buffer | null> {
    const path = this.file('blobs', hash);
    return existsSync(path) ? readFileSync(path) : null;
  }

  async setBlob(hash: string, bytes: Buffer): Promise<void> {
    this.write(this.file('blobs', hash), bytes);
  }

  async dropBlob(hash: string): Promise<void> {
    rmSync(this.file('blobs', hash), { force: true });
  }

  async manifest(key: string): Promise<Buffer | null> {
    const path = this.file('entries', `${key}.json`);
    return existsSync(path) ? readFileSync(path) : null;
  }

  async setManifest(key: string, bytes: Buffer): Promise<void> {
    this.write(this.file('entries', `${key}.json`), bytes);
  }

  async count(): Promise<number> {
    return listFiles(join(this.server.www, this.base)).length;
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }

  private write(path: string, bytes: Buffer): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
}

// The two servers a test file of remotes starts once (Redis, and nginx
// with WebDAV), and the backends over them for describe.each.
export function remoteServers(): {
  started(): { redis: RedisBackend; webdav: WebDavBackend };
  backends: ReadonlyArray<readonly [string, () => Backend]>;
} {
  let redis: RedisBackend;
  let webdav: WebDavBackend;
  beforeAll(async () => {
    [redis, webdav] = await Promise.all([RedisBackend.start(), WebDavBackend.start()]);
  });
  afterAll(async () => {
    await Promise.all([redis?.stop(), webdav?.stop()]);
  });
  return {
    started: () => ({ redis, webdav }),
    backends: [
      ['Redis', () => redis],
      ['HTTP (nginx WebDAV)', () => webdav],
    ],
  };
}
