import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREFIX } from './network.js';

// The shared remote of a fleet run, in the root namespace: redis-server or
// moto_server (as the tests start them: no persistence; moto without its
// IAM checks, as in bench/lib/moto.js), listening on `address`. Every
// process started here is in `processes`, so that a signal handler can kill
// it synchronously.

const START_TIMEOUT_MS = 30_000;
export const processes = new Set();

export function hasProgram(name) {
  return spawnSync('/bin/sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

// Kills every process started here at once (SIGKILL: nothing to save).
export function killServers() {
  for (const child of processes) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  processes.clear();
}

function track(child) {
  processes.add(child);
  child.once('exit', () => processes.delete(child));
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
}

export function freePort(address) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, address, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(address, port) {
  return new Promise((resolve) => {
    const socket = connect(port, address);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForPort(child, address, port, name, logPath) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await canConnect(address, port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start on ${address}:${port}:\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// In a fleet the remote is a machine of its own and the links cost the
// hosts no CPU; here the server and the delaying proxy share two cores with
// every host's Node process. They run under the real-time round-robin policy
// (`chrt --rr 10`, which needs root, as the namespaces do), so that they get
// a CPU whenever they have work: 64 start-ups at once slow the hosts, as
// they would on their own machines, not the remote or the links. (nice -10
// was not enough: against 64 busy processes it leaves a server about 13% of
// the CPU.) The kernel keeps 5% of every second for other work.
export const SERVER_PRIORITY = ['--rr', '10'];

// Starts a server whose output goes to a log file of its own temp dir.
async function startLogged(name, file, argsFor, { address, env }) {
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${name}-`));
  const port = await freePort(address);
  const logPath = join(dir, 'log');
  const log = openSync(logPath, 'w');
  const child = track(spawn('chrt', [...SERVER_PRIORITY, file, ...argsFor(port, dir)], { stdio: ['ignore', log, log], env: env ?? process.env }));
  closeSync(log);
  try {
    await waitForPort(child, address, port, name, logPath);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    address,
    port,
    logPath,
    stop: async () => {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function startRedis(address) {
  return startLogged('redis', 'redis-server', (port, dir) => ['--port', String(port), '--bind', address, '--save', '', '--appendonly', 'no', '--dir', dir], { address });
}

// moto_server logs one line per request (werkzeug's access log): the runner
// counts them to tell how many requests a hit made.
export async function startMoto(address) {
  const server = await startLogged('moto', 'moto_server', (port) => ['-H', address, '-p', String(port)], { address });
  const response = await fetch(`http://${address}:${server.port}/fleet`, { method: 'PUT' });
  if (!response.ok) {
    await server.stop();
    throw new Error(`moto: could not make the bucket: ${response.status}`);
  }
  return { ...server, bucket: 'fleet' };
}

// The delaying proxy (delay-proxy.js) in front of a server: listens on
// `address`, forwards to the server's address and port.
export async function startDelayProxy(address, target, oneWayMs) {
  const script = fileURLToPath(new URL('./delay-proxy.js', import.meta.url));
  const child = track(
    spawn('chrt', [...SERVER_PRIORITY, process.execPath, script, address, target.address, String(target.port), String(oneWayMs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const port = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('the delay proxy did not start')), START_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(Number(text.trim()));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the delay proxy exited (${code})`));
    });
  });
  return { address, port, stop: () => stop(child) };
}

// Commands a Redis server has run so far (INFO commandstats), read from the
// root namespace, undelayed.
export async function redisCommands(server) {
  const result = spawnSync('redis-cli', ['-h', server.address, '-p', String(server.port), 'info', 'commandstats'], { encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) return null;
  // INFO itself is left out: these reads are not the hosts' commands
  return [...result.stdout.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].filter((m) => m[1] !== 'info').reduce((sum, m) => sum + Number(m[2]), 0);
}

// Requests moto has answered so far: its access log's lines.
export function motoRequests(server) {
  return readFileSync(server.logPath, 'utf8').split('\n').filter((line) => / HTTP\/1\.[01]" \d{3} /.test(line)).length;
}
