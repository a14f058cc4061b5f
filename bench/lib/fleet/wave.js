import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { namespaceOf } from './network.js';

// A wave: the same command started on every host at one moment, as cron
// starts a job on every machine at the top of the hour. Each host's process
// is started beforehand and blocks reading a pipe it shares with the
// runner; the runner writes one line per host in one write, and every
// process reads its line and goes. Each host times its own command with
// its own clock (`date +%s%N` just before and just after): start to exit of
// the process, without the runner's event loop in the figure.
//
//   ip netns exec dcfleet-<i> sh -c WRAPPER … <command…>
//
// A process that is late to the pipe finds its line waiting, so no host
// can miss the start; one that does not finish within `timeoutMs` is
// killed with its whole process group and reported.

const WRAPPER = [
  'ready=$1 fifo=$2 times=$3 out=$4 err=$5; shift 5',
  // a read end that stays open while this process waits for its line
  ': > "$ready"; read go < "$fifo"',
  's=$(date +%s%N); "$@" > "$out" 2> "$err"; rc=$?; e=$(date +%s%N)',
  'echo "$s $e $rc" > "$times"',
].join('; ');

// how long the runner waits for every host's process to be at the pipe
const READY_TIMEOUT_MS = 60_000;

// Runs `command(host)` on hosts 0 … count-1 at once; `env(host)` is each
// one's environment. Resolves with one result per host:
// { host, startNs, endNs, ms, code, stdout, stderr, timedOut }.
export async function runWave({ count, dir, command, env, timeoutMs, live }) {
  mkdirSync(dir, { recursive: true });
  const fifo = join(dir, 'go');
  // A FIFO the runner holds open for writing and reading (O_RDWR does not
  // block), so that every host's open of it returns at once and its read
  // waits for a line.
  if (spawnSync('mkfifo', ['-m', '600', fifo]).status !== 0) throw new Error(`could not make the FIFO ${fifo}`);
  const fd = openSync(fifo, 'r+');
  const hosts = Array.from({ length: count }, (_, host) => {
    const paths = {
      ready: join(dir, `${host}.ready`),
      times: join(dir, `${host}.times`),
      out: join(dir, `${host}.out`),
      err: join(dir, `${host}.err`),
    };
    const child = spawn('ip', ['netns', 'exec', namespaceOf(host), '/bin/sh', '-c', WRAPPER, 'fleet-host', paths.ready, fifo, paths.times, paths.out, paths.err, ...command(host)], {
      env: env(host),
      stdio: 'ignore',
      // a group of its own: killed with its children on timeout
      detached: true,
    });
    live.add(child);
    const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    exited.then(() => live.delete(child));
    return { host, child, paths, exited };
  });
  try {
    const readyBy = Date.now() + READY_TIMEOUT_MS;
    while (!hosts.every((h) => existsSync(h.paths.ready))) {
      if (Date.now() > readyBy) throw new Error(`not every host was ready to start within ${READY_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // between its ready mark and its read there is one redirection
    await new Promise((r) => setTimeout(r, 100));
    writeSync(fd, 'go\n'.repeat(count));
    const results = await Promise.all(hosts.map((h) => finish(h, timeoutMs)));
    return results;
  } finally {
    // what a host left running (a command whose dcache was killed)
    for (const h of hosts) killGroup(h.child);
    closeSync(fd);
  }
}

async function finish({ host, child, paths, exited }, timeoutMs) {
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutMs);
  const { code, signal } = await exited;
  clearTimeout(killer);
  const read = (path) => (existsSync(path) ? readFileSync(path) : Buffer.alloc(0));
  const times = read(paths.times).toString().trim().split(' ');
  const startNs = times.length === 3 ? BigInt(times[0]) : null;
  const endNs = times.length === 3 ? BigInt(times[1]) : null;
  return {
    host,
    startNs,
    endNs,
    ms: startNs === null ? null : Number(endNs - startNs) / 1e6,
    // the command's own exit code, as the wrapper saw it
    code: times.length === 3 ? Number(times[2]) : null,
    wrapper: { code, signal },
    stdout: read(paths.out),
    stderr: read(paths.err).toString(),
    timedOut,
  };
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}
