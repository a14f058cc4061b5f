import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, freePort } from './ports.js';

// Servers for the Redis remote tests: a real redis-server, and a real Redis
// Cluster of three of them.

// The redis-server binary, or an error saying how to get one: these tests
// must fail, not skip, on a machine without it (CI installs it).
export function findRedisServer(): string {
  return findRedisProgram('redis-server');
}

// The redis-cli binary, which joins the nodes of a cluster; the same package
// brings it, and its absence fails the tests the same way.
export function findRedisCli(): string {
  return findRedisProgram('redis-cli');
}

function findRedisProgram(name: 'redis-server' | 'redis-cli'): string {
  const which = spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  if (found !== '') return found;
  if (existsSync(`/usr/bin/${name}`)) return `/usr/bin/${name}`;
  throw new Error(
    `${name} is not installed: the Redis remote tests need a real one ` +
      '(apt-get install -y redis-server); .ci/run must install it',
  );
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

// The longest a cluster may take to form or to change state, and redis-cli
// to answer: only a cluster that never will is given up on.
const CLUSTER_FORM_MS = 20_000;

// A throwaway Redis Cluster: three masters without replicas, each a
// RedisServer on free ports of 127.0.0.1 (its own temp dir holding its
// nodes.conf), joined by redis-cli --cluster create and ready once every node
// says cluster_state:ok. Each node's cluster bus gets a free port of its own
// (cluster-port): the default, the port plus 10000, may be taken or past 65535.
export class RedisCluster {
  private constructor(
    readonly nodes: RedisServer[],
    private readonly cli: string,
    // redis-cli's arguments for the password, if the nodes have one
    private readonly auth: string[],
  ) {}

  static async start(extraArgs: string[] = []): Promise<RedisCluster> {
    const cli = findRedisCli();
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const busPort = await freePort();
        // nodes.conf is relative to --dir, so each node writes its own
        const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort)];
        nodes.push(await RedisServer.start([...clusterArgs, ...extraArgs]));
      }
      const password = passwordIn(extraArgs);
      const cluster = new RedisCluster(nodes, cli, password === undefined ? [] : ['-a', password, '--no-auth-warning']);
      const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
      const created = await cluster.redisCli(['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
      if (created.code !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.output}`);
      await cluster.waitForState('ok');
      return cluster;
    } catch (err) {
      await Promise.all(nodes.map((node) => node.stop()));
      throw err;
    }
  }

  get ports(): number[] {
    return this.nodes.map((node) => node.port);
  }

  // the URL of one node (the first by default): any node lets a client in
  url(auth = '', node = 0): string {
    return this.nodes[node]!.url(auth);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }

  // Polls CLUSTER INFO on the nodes (all by default, else those at `indexes`)
  // until each says cluster_state:<state>. Once all say ok, every node knows
  // which node serves every slot; a node says fail once it has found a
  // master gone (after cluster-node-timeout).
  async waitForState(state: 'ok' | 'fail', indexes = this.nodes.map((_, i) => i)): Promise<void> {
    const ports = indexes.map((i) => this.nodes[i]!.port);
    const deadline = Date.now() + CLUSTER_FORM_MS;
    for (;;) {
      const infos = await Promise.all(ports.map((port) => this.redisCli(['-p', String(port), 'cluster', 'info'])));
      if (infos.every((info) => info.output.includes(`cluster_state:${state}`))) return;
      if (Date.now() > deadline) {
        throw new Error(`the cluster on ${ports.join(', ')} did not reach cluster_state:${state}:\n${infos.map((i) => i.output).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // Runs redis-cli against 127.0.0.1, with the password if any, killed if it hangs.
  private redisCli(args: string[]): Promise<{ code: number | null; output: string }> {
    return runProgram(this.cli, ['-h', '127.0.0.1', ...this.auth, ...args]);
  }
}

// The value of --requirepass among redis-server arguments, if any.
function passwordIn(args: string[]): string | undefined {
  const at = args.indexOf('--requirepass');
  return at === -1 ? undefined : args[at + 1];
}

// Runs a program to its end and returns its exit code and output; killed if it hangs.
function runProgram(file: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), CLUSTER_FORM_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    });
  });
}
