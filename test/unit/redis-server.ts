import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Servers for the Redis remote tests: a real redis-server, and a TCP server
// that accepts connections and never answers.

// The redis-server binary, or an error saying how to get one: these tests
// must fail, not skip, on a machine without it (CI installs it).
export function findRedisServer(): string {
  const which = spawnSync('/bin/sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  if (found !== '') return found;
  if (existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  throw new Error(
    'redis-server is not installed: the Redis remote tests need a real one ' +
      '(apt-get install -y redis-server); .ci/run must install it',
  );
}

// A TCP port nobody listens on right now, on 127.0.0.1.
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// Whether something accepts a TCP connection on 127.0.0.1:port now.
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// A throwaway redis-server on a free port of 127.0.0.1: no persistence, its
// working directory a temp dir, stopped with its test file.
export class RedisServer {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(extraArgs: string[] = []): Promise<RedisServer> {
    const binary = findRedisServer();
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'dcache-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const server = new RedisServer(port, child, dir);
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return server;
  }

  url(auth = ''): string {
    return `redis://${auth}127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// Accepts TCP connections and never writes a byte: a server that hangs.
export class SilentServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<SilentServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const silent = new SilentServer(server, (server.address() as AddressInfo).port);
    server.on('connection', (socket) => {
      silent.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => silent.sockets.delete(socket));
    });
    return silent;
  }

  url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
