import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServer } from '../unit/redis-server.js';
import { WebDavServer } from '../unit/webdav-server.js';
import { BIN, type Result, type Sandbox } from './rig.js';

// The shared-cache end-to-end rig. A "machine" is a cache directory of its
// own in the same sandbox (same working directory, so keys match); machines
// share a remote: a real redis-server or a real nginx with WebDAV.

export interface Machine {
  readonly name: string;
  readonly cacheDir: string;
  // dcache <args> on this machine, waiting for it (blocks the event loop)
  run(args: string[], env?: NodeJS.ProcessEnv): Result;
  // dcache <args> on this machine, as a child the test can watch and kill
  start(args: string[], env?: NodeJS.ProcessEnv): Running;
}

export function machine(box: Sandbox, name: string): Machine {
  const cacheDir = box.path(`cache-${name}`);
  const own = { DCACHE_DIR: cacheDir };
  return {
    name,
    cacheDir,
    run: (args, env = {}) => box.dcache(args, { env: { ...own, ...env } }),
    start: (args, env = {}) => new Running(spawn(process.execPath, [BIN, ...args], {
      cwd: box.root,
      env: { ...box.env, ...own, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })),
  };
}

// Long enough that only a dcache that hangs is stopped by it.
export const GENEROUS_MS = 30_000;

// A dcache process in flight: its stderr can be awaited line by line, and
// `done` settles when it exits, or after GENEROUS_MS with timedOut set.
export class Running {
  readonly done: Promise<Result & { timedOut: boolean }>;
  // settles when the reader of dcache's stdout sees its end
  readonly stdoutEnd: Promise<void>;
  private stderrText = '';
  private readonly listeners = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    const out: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    this.stdoutEnd = new Promise((resolve) => child.stdout!.once('end', resolve));
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrText += chunk.toString('utf8');
      for (const listener of this.listeners) listener();
    });
    this.done = new Promise((resolve, reject) => {
      let timedOut = false;
      const killer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, GENEROUS_MS);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(killer);
        resolve({ code, signal, stdout: Buffer.concat(out), stderr: this.stderrText, timedOut });
      });
    });
  }

  // Resolves once stderr matches `pattern`; rejects if the process exits first.
  stderrMatches(pattern: RegExp): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pattern.test(this.stderrText)) {
          this.listeners.delete(check);
          resolve();
        }
      };
      this.listeners.add(check);
      check();
      void this.done.then(() => {
        this.listeners.delete(check);
        reject(new Error(`exited before its stderr matched ${pattern}: ${JSON.stringify(this.stderrText)}`));
      });
    });
  }
}

// Polls `condition` every 25 ms until it holds, for at most GENEROUS_MS.
export async function eventually(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + GENEROUS_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// The one manifest in a machine's cache directory, parsed.
export interface StoredEntry {
  key: string;
  stdout: { hash: string; size: number } | null;
  stderr: { hash: string; size: number } | null;
  outputs: Array<{ path: string; type: string; blob?: { hash: string; size: number } }>;
  [field: string]: unknown;
}

export function onlyEntry(cacheDir: string): StoredEntry {
  const manifests = filesUnder(join(cacheDir, 'entries')).filter((f) => f.endsWith('.json'));
  if (manifests.length !== 1) throw new Error(`expected one entry in ${cacheDir}, found ${manifests.length}`);
  return JSON.parse(readFileSync(manifests[0]!, 'utf8')) as StoredEntry;
}

// Every file under `dir`, recursively; none if it does not exist.
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

// Files under `dir` whose bytes contain `secret`.
export function filesHolding(dir: string, secret: string): string[] {
  return filesUnder(dir).filter((f) => readFileSync(f).includes(secret));
}

// ---------------------------------------------------------------------------
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
    return filesUnder(join(this.server.www, this.base)).length;
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }

  private write(path: string, bytes: Buffer): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
}

// ---------------------------------------------------------------------------
// Misbehaving servers.

// Accepts TCP connections and never writes a byte; counts the connections
// on which something was asked (a client may open one and send nothing).
export class HangingServer {
  connections = 0;
  asked = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<HangingServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hanging = new HangingServer(server, (server.address() as AddressInfo).port);
    server.on('connection', (socket) => {
      hanging.connections += 1;
      hanging.sockets.add(socket);
      socket.once('data', () => (hanging.asked += 1));
      socket.on('error', () => {});
      socket.on('close', () => hanging.sockets.delete(socket));
    });
    return hanging;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

// A minimal WebDAV-like store in memory, as a handler for TestServer: GET,
// HEAD and PUT on paths, 404 for what it does not hold. `refuse` makes it
// answer a method with an error status instead.
export class MemoryDav {
  readonly files = new Map<string, Buffer>();
  refuse: Partial<Record<'GET' | 'HEAD' | 'PUT', number>> = {};
  // called on every PUT before it is answered
  onPut: (path: string) => void = () => {};

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method as 'GET' | 'HEAD' | 'PUT';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const refused = this.refuse[method];
    if (refused !== undefined) {
      req.resume();
      res.writeHead(refused);
      res.end();
      return;
    }
    if (method === 'PUT') {
      const body: Buffer[] = [];
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => {
        this.onPut(path);
        this.files.set(path, Buffer.concat(body));
        res.writeHead(201);
        res.end();
      });
      return;
    }
    const file = this.files.get(path);
    if (file === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': String(file.length) });
    res.end(method === 'HEAD' ? undefined : file);
  };
}
