// The fleet simulation behind `npm run bench:fleet`: N hosts, each in a
// network namespace of its own with its own cache directory, share one
// remote (Redis or an S3 bucket) in the root namespace, across links that
// delay every packet. A cron-like burst starts the same slow command on
// every host at once and counts how often it really ran (single flight
// across machines); then every host calls again, with an empty cache
// directory, to time a hit served by the remote, and once more to time a
// local hit under the same conditions. Writes its rows of the current
// figures and its part of BENCHMARKS.md on a full run; `--json` prints one
// row per run on stdout.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePart } from './lib/benchmarks-md.js';
import { writeCurrentFigures } from './lib/current-figures.js';
import { describeMachine } from './lib/machine.js';
import { REPO } from './lib/paths.js';
import { cleanEnv } from './lib/spawn.js';
import { NEEDS_ROOT, parseFleetArgs, USAGE } from './lib/fleet/args.js';
import { createNetwork, namespaceOf, PREFIX, removeNetwork, SERVER_ADDRESS } from './lib/fleet/network.js';
import { fleetGoalFigures, renderFleetMarkdown, summariseRun } from './lib/fleet/report.js';
import { hasProgram, killServers, motoRequests, processes, redisCommands, startDelayProxy, startMoto, startRedis } from './lib/fleet/servers.js';
import { runWave } from './lib/fleet/wave.js';

// what it prints: the size of the hit case of bench/run.js
const PAYLOAD_BYTES = 1024;
// timed hits per size, at least: a size of N hosts calls ceil(this / N) rounds
const MIN_HIT_SAMPLES = 20;
// No host's call may take longer: the burst's command takes 3 s; a hit,
// even with 64 Node start-ups on two cores, a few.
const BURST_TIMEOUT_MS = 120_000;
const HIT_TIMEOUT_MS = 60_000;
// the state of the run in progress, for the next run to clean up after a crash
const STATE = join(tmpdir(), `${PREFIX}state.json`);
const BIN = join(REPO, 'bin', 'dcache.js');

// the hosts' processes in flight (their process groups are killed on a signal)
const live = new Set();
let runDir = null;

function say(options, line) {
  // with --json, stdout holds the rows only
  (options.json ? process.stderr : process.stdout).write(`${line}\n`);
}

async function main() {
  const parsed = parseFleetArgs(process.argv.slice(2));
  if (!parsed.ok) {
    console.error(parsed.message);
    process.exit(2);
  }
  const { options } = parsed;
  if (options.help) {
    console.log(USAGE);
    return;
  }
  if (process.getuid?.() !== 0) {
    console.error(NEEDS_ROOT);
    process.exit(1);
  }
  const missing = ['ip', 'mkfifo', 'chrt', options.remotes.includes('redis') && 'redis-server', options.remotes.includes('redis') && 'redis-cli', options.remotes.includes('s3') && 'moto_server'].filter(
    (name) => name && !hasProgram(name),
  );
  if (missing.length > 0) {
    console.error(`bench:fleet: needs ${missing.join(', ')} (iproute2, util-linux, redis-server, python3 -m pip install 'moto[server]')`);
    process.exit(1);
  }
  if (!existsSync(join(REPO, 'dist'))) {
    console.error('bench:fleet: dist/ is not built; run npm run bench:fleet (it builds first)');
    process.exit(1);
  }

  cleanUpLeftovers(options);
  writeFileSync(STATE, JSON.stringify({ pid: process.pid }));
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ]) {
    process.once(signal, () => {
      console.error(`bench:fleet: ${signal}: removing the namespaces, servers and temp files`);
      cleanUpSync();
      process.exit(code);
    });
  }
  try {
    await benchmark(options);
  } finally {
    cleanUpSync();
  }
}

// Everything this run made, removed synchronously (a signal handler calls it).
function cleanUpSync() {
  for (const child of live) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  live.clear();
  killServers();
  removeNetwork();
  if (runDir !== null) rmSync(runDir, { recursive: true, force: true });
  rmSync(STATE, { force: true });
}

// What a run that crashed (kill -9, power loss) left: its servers, its
// namespaces and links, its temp dirs. Another run still going is not
// touched: this one stops instead.
function cleanUpLeftovers(options) {
  if (existsSync(STATE)) {
    let state = {};
    try {
      state = JSON.parse(readFileSync(STATE, 'utf8'));
    } catch {
      // a torn state file: what it named is found below by name
    }
    if (Number.isInteger(state.pid) && isFleetRun(state.pid)) {
      console.error(`bench:fleet: another run (process ${state.pid}) is going on; wait for it or stop it`);
      process.exit(1);
    }
    for (const pid of state.servers ?? []) {
      if (/redis-server|moto_server|delay-proxy/.test(cmdline(pid))) process.kill(pid, 'SIGKILL');
    }
  }
  const removed = removeNetwork();
  let dirs = 0;
  for (const name of readdirSync(tmpdir())) {
    if (name.startsWith(PREFIX) && name !== `${PREFIX}state.json`) {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
      dirs++;
    }
  }
  if (removed.namespaces + removed.links + dirs > 0) {
    say(options, `removed what an earlier run left: ${removed.namespaces} namespaces, ${removed.links} links, ${dirs} temp dirs`);
  }
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function isFleetRun(pid) {
  return pid !== process.pid && cmdline(pid).includes('fleet.js');
}

// The servers' pids, for the clean-up of a crashed run.
function saveState() {
  writeFileSync(STATE, JSON.stringify({ pid: process.pid, servers: [...processes].map((c) => c.pid) }));
}

async function benchmark(options) {
  const machine = describeMachine(new Date());
  const hosts = Math.max(...options.sizes);
  runDir = mkdtempSync(join(tmpdir(), `${PREFIX}run-`));
  say(options, `bench:fleet: ${machine.cpu}, Node ${machine.node}; ${hosts} hosts, one-way delay ${options.delayMs} ms per link`);
  const madeAt = performance.now();
  const delay = createNetwork(hosts, options.delayMs);
  say(options, `made ${hosts} namespaces in ${((performance.now() - madeAt) / 1000).toFixed(1)} s; delay by ${delay === 'netem' ? 'tc netem' : 'a user-space proxy (this kernel has no tc netem)'}`);
  const payload = join(runDir, 'payload');
  writeFileSync(payload, Buffer.from('fleet '.repeat(PAYLOAD_BYTES).slice(0, PAYLOAD_BYTES - 1) + '\n'));

  const rows = [];
  for (const remoteKind of options.remotes) {
    const remote = await startRemote(remoteKind, delay, options.delayMs);
    saveState();
    try {
      const rtt = measureRtt(remote);
      say(options, `${remoteKind}: ${remote.url}; a request takes ${rtt.requestMs.toFixed(1)} ms (${rtt.roundTrips} round trip(s)): round trip ${rtt.rttMs.toFixed(1)} ms`);
      for (const size of options.sizes) {
        const run = await runSize({ remote, size, payload, options, rtt, delay });
        const row = summariseRun(run);
        rows.push({ row, run });
        if (options.json) console.log(JSON.stringify(row));
        say(
          options,
          `${remoteKind}, ${size} hosts: ${row.executions} execution(s) in the burst; remote hit p50 ${row.p50HitMs.toFixed(1)} ms, p99 ${row.p99HitMs.toFixed(1)} ms; ` +
            `local hit p50 ${row.p50LocalHitMs.toFixed(1)} ms; goal ${row.goalMs.toFixed(1)} ms: ${row.goalMet ? 'met' : 'not met'}; ` +
            `waiters ended ${row.replayLagMs === null ? '—' : `${row.replayLagMs.p50.toFixed(0)} ms (p50), ${row.replayLagMs.max.toFixed(0)} ms (max)`} after the runner`,
        );
      }
    } finally {
      await remote.stop();
    }
  }
  if (options.full) {
    const markdown = renderFleetMarkdown({ machine, options, delay, rows, commandSeconds: options.commandSeconds, payloadBytes: PAYLOAD_BYTES, minSamples: MIN_HIT_SAMPLES });
    writePart('bench/fleet.js', markdown);
    say(options, `Wrote ${writeCurrentFigures('`npm run bench:fleet`', machine, fleetGoalFigures(rows.map(({ row }) => row)))}`);
  } else {
    say(options, 'not every size and remote was run (or --delay-ms, --remote-timeout or --command-seconds was given): BENCHMARKS.md left as it was');
  }
  const problems = rows.flatMap(({ row }) => row.problems.map((p) => `${row.remote}, ${row.hosts} hosts: ${p}`));
  for (const problem of problems) console.error(`bench:fleet: ${problem}`);
  if (problems.length > 0) process.exitCode = 1;
}

// The remote for `kind`, reachable from the namespaces at SERVER_ADDRESS:
// the server itself there (netem delays the links), or on 127.0.0.1 behind
// the delay proxy there.
async function startRemote(kind, delay, delayMs) {
  const serverAddress = delay === 'netem' ? SERVER_ADDRESS : '127.0.0.1';
  const server = kind === 'redis' ? await startRedis(serverAddress) : await startMoto(serverAddress);
  const proxy = delay === 'netem' ? null : await startDelayProxy(SERVER_ADDRESS, server, delayMs);
  // With the proxy, a second one without delay: the same hit with no round
  // trips to pay, which tells the client's own cost from the network's.
  const direct = delay === 'netem' ? null : await startDelayProxy(SERVER_ADDRESS, server, 0);
  const reach = (port) => {
    const endpoint = `${SERVER_ADDRESS}:${port}`;
    return {
      url: kind === 'redis' ? `redis://${endpoint}` : `s3://${server.bucket}`,
      env: kind === 'redis' ? {} : { AWS_ACCESS_KEY_ID: 'fleet', AWS_SECRET_ACCESS_KEY: 'fleet', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: `http://${endpoint}` },
    };
  };
  const port = proxy?.port ?? server.port;
  return {
    kind,
    server,
    port,
    ...reach(port),
    undelayed: direct === null ? null : { kind, ...reach(direct.port) },
    // requests the server has answered so far, or null if it cannot tell
    requests: () => (kind === 'redis' ? redisCommands(server) : motoRequests(server)),
    stop: async () => {
      await direct?.stop();
      await proxy?.stop();
      await server.stop();
    },
  };
}

// The round trip from host 0 to the remote, with rtt-probe.js: the median
// of 20 requests after a first one. Redis answers on an open connection
// (one round trip); moto opens a connection per request (two).
function measureRtt(remote) {
  const probe = join(REPO, 'bench', 'lib', 'fleet', 'rtt-probe.js');
  const kind = remote.kind === 'redis' ? 'redis' : 'http';
  const result = spawnSync('ip', ['netns', 'exec', namespaceOf(0), process.execPath, probe, SERVER_ADDRESS, String(remote.port), kind, '21'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`rtt-probe: ${result.stderr || result.error?.message || `exit ${result.status}`}`);
  const { requestsMs } = JSON.parse(result.stdout);
  const rest = requestsMs.slice(1).sort((a, b) => a - b);
  const requestMs = rest[rest.length >> 1];
  const roundTrips = kind === 'redis' ? 1 : 2;
  return { requestMs, roundTrips, rttMs: requestMs / roundTrips };
}

// The environment of every host: the runner's, cleaned as for every
// benchmark, without proxies or AWS settings of the user's, and with the
// host's cache directory and the remote.
function hostEnv(remote, dir) {
  const env = cleanEnv();
  for (const name of Object.keys(env)) if (/^(https?_proxy|no_proxy|all_proxy|AWS_)/i.test(name)) delete env[name];
  return { ...env, ...remote.env, DCACHE_DIR: dir, DCACHE_REMOTE: remote.url };
}

// One fleet size against one remote: the burst, then the rounds of hits.
async function runSize({ remote, size, payload, options, rtt, delay }) {
  const dir = join(runDir, `${remote.kind}-${size}`);
  mkdirSync(dir, { recursive: true });
  const counter = join(dir, 'executions');
  writeFileSync(counter, '');
  // The counter's path is in the command, so each run has a key of its own.
  const command = ['/bin/sh', '-c', `sleep ${options.commandSeconds}; echo ran >> "$1"; cat "$2"`, 'fleet-job', counter, payload];
  const timeout = options.remoteTimeout === null ? [] : ['--remote-timeout', options.remoteTimeout];
  const dcache = [process.execPath, BIN, 'run', '-v', '--no-cwd', ...timeout, '--', ...command];
  const cacheDir = (host, name) => join(dir, `host-${host}`, name);
  const expected = readFileSync(payload);

  const burstStarted = performance.now();
  const burst = await runWave({
    count: size,
    dir: join(dir, 'burst'),
    command: () => dcache,
    env: (host) => hostEnv(remote, cacheDir(host, 'burst')),
    timeoutMs: BURST_TIMEOUT_MS,
    live,
  });
  const burstMs = performance.now() - burstStarted;
  const executions = countLines(counter);

  const rounds = Math.ceil(MIN_HIT_SAMPLES / size);
  const remoteHits = [];
  const localHits = [];
  let remoteRequests = 0;
  let requestsKnown = true;
  for (let round = 0; round < rounds; round++) {
    // every host calls once, with this round's cache directory
    const hitWave = (name) =>
      runWave({
        count: size,
        dir: join(dir, `${name}-${round}`),
        command: () => dcache,
        env: (host) => hostEnv(remote, cacheDir(host, `round-${round}`)),
        timeoutMs: HIT_TIMEOUT_MS,
        live,
      });
    // a fresh cache directory per host: the hit must come from the remote
    const before = await remote.requests();
    remoteHits.push(...(await hitWave('remote')));
    const after = await remote.requests();
    if (before === null || after === null) requestsKnown = false;
    else remoteRequests += after - before;
    // the same directories again: the entry is now local
    localHits.push(...(await hitWave('local')));
  }
  // One host alone, through the undelayed proxy: a remote hit without
  // contention and without round trips to pay.
  const undelayedHits = [];
  if (size === 1 && remote.undelayed !== null) {
    for (let round = 0; round < MIN_HIT_SAMPLES; round++) {
      const [hit] = await runWave({
        count: 1,
        dir: join(dir, `undelayed-${round}`),
        command: () => dcache,
        env: (host) => hostEnv(remote.undelayed, cacheDir(host, `undelayed-${round}`)),
        timeoutMs: HIT_TIMEOUT_MS,
        live,
      });
      undelayedHits.push(hit);
    }
  }
  const executionsAfter = countLines(counter);
  // what this size's directories hold is not needed past its summary
  const run = { remote: remote.kind, size, delay, delayMs: options.delayMs, rtt, burst, burstMs, executions, executionsAfter, remoteHits, localHits, undelayedHits, expected, rounds, remoteRequests: requestsKnown ? remoteRequests : null };
  rmSync(dir, { recursive: true, force: true });
  return run;
}

function countLines(path) {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).length;
}

await main();
