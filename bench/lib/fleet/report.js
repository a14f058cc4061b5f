import { markdownTable } from '../format.js';
import { renderMachine } from '../machine.js';

// What a fleet run found, as one row (the --json contract, and the table of
// BENCHMARKS.md), its rows of the current figures, and the markdown of its
// part of BENCHMARKS.md.

// What one host's call turned out to be, from its exit, its output and its
// -v line on stderr.
export function outcomeOf(result, expected) {
  if (result.timedOut) return 'timed out';
  if (result.code !== 0) return `exit ${result.code ?? result.wrapper.signal ?? result.wrapper.code}`;
  if (!result.stdout.equals(expected)) return 'wrong output';
  if (result.stderr.includes('hit on the remote cache')) return 'remote hit';
  if (/dcache: hit:/.test(result.stderr)) return 'local hit';
  if (/dcache: recorded /.test(result.stderr)) return 'ran';
  return 'other';
}

// Nearest-rank percentile.
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function tally(outcomes) {
  const counts = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

function spreadMs(results) {
  const starts = results.map((r) => r.startNs).filter((s) => s !== null);
  if (starts.length === 0) return NaN;
  const min = starts.reduce((a, b) => (b < a ? b : a));
  const max = starts.reduce((a, b) => (b > a ? b : a));
  return Number(max - min) / 1e6;
}

export function summariseRun(run) {
  const { expected } = run;
  const burstOutcomes = run.burst.map((r) => outcomeOf(r, expected));
  const waited = run.burst.filter((r) => r.stderr.includes('waiting for another machine')).length;
  const remote = run.remoteHits.map((r) => ({ r, o: outcomeOf(r, expected) }));
  const local = run.localHits.map((r) => ({ r, o: outcomeOf(r, expected) }));
  const remoteMs = remote.filter((x) => x.o === 'remote hit').map((x) => x.r.ms);
  const undelayed = run.undelayedHits.map((r) => ({ r, o: outcomeOf(r, expected) }));
  const undelayedMs = undelayed.filter((x) => x.o === 'remote hit').map((x) => x.r.ms);
  const localMs = local.filter((x) => x.o === 'local hit').map((x) => x.r.ms);
  const rttMs = 2 * run.delayMs;
  // 1 KiB on a link with no bandwidth limit: microseconds, counted as 0
  const transferMs = 0;
  const p50HitMs = percentile(remoteMs, 50);
  const p50LocalHitMs = percentile(localMs, 50);
  const goalMs = p50LocalHitMs + 2 * rttMs + transferMs;
  const problems = [];
  if (run.executions !== 1) problems.push(`the command ran ${run.executions} times in the burst (goal: once)`);
  if (run.executionsAfter !== run.executions) problems.push(`the command ran ${run.executionsAfter - run.executions} times during the hits`);
  const badBurst = burstOutcomes.filter((o) => !['ran', 'remote hit', 'local hit'].includes(o));
  if (badBurst.length > 0) problems.push(`burst: ${JSON.stringify(tally(badBurst))}`);
  if (remoteMs.length !== remote.length) problems.push(`calls with an empty cache directory: ${JSON.stringify(tally(remote.map((x) => x.o)))}`);
  if (undelayedMs.length !== undelayed.length) problems.push(`undelayed calls: ${JSON.stringify(tally(undelayed.map((x) => x.o)))}`);
  if (localMs.length !== local.length) problems.push(`calls with the entry local: ${JSON.stringify(tally(local.map((x) => x.o)))}`);
  // What the hosts that ran the command said on stderr, numbers masked so
  // that the same message from many hosts is counted once: why a host did
  // not wait (a remote that failed, a lease taken over) is there.
  const ranMessages = tally(
    run.burst
      .filter((r, i) => burstOutcomes[i] === 'ran')
      .flatMap((r) => r.stderr.split('\n').filter((line) => line.startsWith('dcache:') && !/dcache: (recorded|miss) /.test(line)))
      .map((line) => line.replace(/\b\d+(\.\d+)?\b/g, 'N')),
  );
  if (run.executions > 1) problems.push(`what the hosts that ran said: ${JSON.stringify(ranMessages)}`);
  return {
    remote: run.remote,
    hosts: run.size,
    executions: run.executions,
    p50HitMs,
    p99HitMs: percentile(remoteMs, 99),
    p50LocalHitMs,
    p99LocalHitMs: percentile(localMs, 99),
    // 1 host only, through a proxy without delay (null with netem)
    p50UndelayedHitMs: undelayedMs.length === 0 ? null : percentile(undelayedMs, 50),
    hitSamples: remoteMs.length,
    localSamples: localMs.length,
    rounds: run.rounds,
    delay: run.delay,
    rttMs,
    measuredRttMs: run.rtt.rttMs,
    transferMs,
    goalMs,
    goalMet: p50HitMs <= goalMs,
    requestsPerRemoteHit: run.remoteRequests === null || remote.length === 0 ? null : run.remoteRequests / remote.length,
    burstMs: run.burstMs,
    burstStartSpreadMs: spreadMs(run.burst),
    hitStartSpreadMs: spreadMs(run.remoteHits.slice(0, run.size)),
    burstOutcomes: tally(burstOutcomes),
    replayLagMs: replayLag(run.burst, burstOutcomes),
    burstWaited: waited,
    ranMessages,
    problems,
  };
}

// How long after the host that ran the command ended each waiter of the
// burst ended (by the one machine's clock both were timed with): the time
// a waiter takes to see the entry published and replay it. Null without
// one runner and one waiter.
export function replayLag(burst, outcomes) {
  const runners = burst.filter((r, i) => outcomes[i] === 'ran' && r.endNs !== null);
  if (runners.length !== 1) return null;
  const runnerEnd = runners[0].endNs;
  const lags = burst
    .filter((r, i) => outcomes[i] !== 'ran' && r.endNs !== null)
    .map((r) => Number(r.endNs - runnerEnd) / 1e6);
  if (lags.length === 0) return null;
  return { p50: percentile(lags, 50), max: Math.max(...lags) };
}

const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '—');

// The fleet's two goals as rows of the current figures
// (bench/lib/current-figures.js), from the rows of a full run (summariseRun):
// each remote's figure at each size, smallest fleet first.
export function fleetGoalFigures(rows) {
  const remotes = [...new Set(rows.map((x) => x.remote))];
  const sizes = [...new Set(rows.map((x) => x.hosts))].sort((a, b) => a - b);
  const perRemote = (figure) =>
    remotes.map((remote) => `${remote} **${sizes.map((hosts) => figure(rows.find((x) => x.remote === remote && x.hosts === hosts))).join(' / ')}**`).join(', ');
  const at = `at ${sizes.join(' / ')} hosts`;
  // how far the remote hit's p50 is over the local hit's, in round trips
  const overLocal = (x) => (x === undefined ? '—' : ((x.p50HitMs - x.p50LocalHitMs) / x.rttMs).toFixed(1));
  return [
    {
      goal: '[fleet, burst](bench/fleet.js): the command runs once when every host calls at once',
      figure: `runs per burst ${at}: ${perRemote((x) => (x === undefined ? '—' : x.executions))}`,
      met: rows.every((x) => x.executions === 1),
    },
    {
      goal: '[fleet, remote hit](bench/fleet.js): p50 ≤ a local hit + 2 round trips + the transfer',
      figure: `round trips over the local hit ${at}: ${perRemote(overLocal)}`,
      met: rows.every((x) => x.goalMet),
    },
  ];
}

export function renderFleetMarkdown({ machine, options, delay, rows, commandSeconds, payloadBytes, minSamples }) {
  const r = rows.map(({ row }) => row);
  const table = markdownTable(
    ['remote', 'hosts', 'executions per burst', 'burst: first start to last exit', 'remote hit p50 / p99', 'local hit p50 / p99', 'goal: local p50 + 2 RTT + transfer', 'met?', 'requests per remote hit', 'hits timed'],
    r.map((x) => [
      x.remote,
      x.hosts,
      `**${x.executions}**`,
      `${(x.burstMs / 1000).toFixed(2)} s`,
      `**${f1(x.p50HitMs)} ms** / ${f1(x.p99HitMs)} ms`,
      `${f1(x.p50LocalHitMs)} ms / ${f1(x.p99LocalHitMs)} ms`,
      `${f1(x.goalMs)} ms`,
      x.goalMet ? 'yes' : `no (+${f1(x.p50HitMs - x.p50LocalHitMs)} ms = ${(((x.p50HitMs - x.p50LocalHitMs) / x.rttMs) || 0).toFixed(1)} RTT)`,
      x.requestsPerRemoteHit === null ? '—' : x.requestsPerRemoteHit.toFixed(1),
      x.hitSamples,
    ]),
  );
  const rtts = [...new Map(rows.map(({ run }) => [run.remote, run.rtt])).entries()]
    .map(([remote, rtt]) => (remote === 'redis' ? `Redis PING on an open connection ${f1(rtt.requestMs)} ms` : `S3 HEAD on a new connection (moto_server answers \`Connection: close\` to every request, so every request of a host opens one) ${f1(rtt.requestMs)} ms, two round trips of ${f1(rtt.rttMs)} ms`))
    .join('; ');
  const outcomes = r.map((x) => `- ${x.remote}, ${x.hosts} hosts: ${Object.entries(x.burstOutcomes).map(([k, v]) => `${v} ${k}`).join(', ')}; ${x.burstWaited} waited for another machine; hosts started within ${f1(x.burstStartSpreadMs)} ms of each other (the hits: ${f1(x.hitStartSpreadMs)} ms).`);
  const alone = r.filter((x) => x.p50UndelayedHitMs !== null);
  const undelayedText =
    alone.length === 0
      ? ''
      : `\nWhere a remote hit's time goes, one host alone (no contention), p50 of ${minSamples} calls each: ` +
        alone
          .map(
            (x) =>
              `${x.remote}: local hit ${f1(x.p50LocalHitMs)} ms; remote hit through the proxy without delay ${f1(x.p50UndelayedHitMs)} ms ` +
              `(the client's own cost: +${f1(x.p50UndelayedHitMs - x.p50LocalHitMs)} ms); with the ${x.rttMs} ms round trip ${f1(x.p50HitMs)} ms ` +
              `(the network's: +${f1(x.p50HitMs - x.p50UndelayedHitMs)} ms, ${((x.p50HitMs - x.p50UndelayedHitMs) / x.rttMs).toFixed(1)} round trips, for ${x.requestsPerRemoteHit ?? '?'} request${x.requestsPerRemoteHit === 1 ? '' : 's'})`,
          )
          .join('; ') +
        '.\n';
  const problems = r.flatMap((x) => x.problems.map((p) => `- ${x.remote}, ${x.hosts} hosts: ${p}`));
  // A host whose remote request missed its deadline goes on without the
  // remote and runs the command (the cache is an optimisation): said apart
  // from a host that ran for want of a lease.
  const deadlines = r
    .map((x) => ({ x, n: Object.entries(x.ranMessages).filter(([m]) => /did not finish within|no answer within/.test(m)).reduce((sum, [, n]) => sum + n, 0) }))
    .filter(({ n }) => n > 0)
    .map(({ x, n }) => `- ${x.remote}, ${x.hosts} hosts: ${n} of the ${x.executions} executions came from hosts whose first request to the remote missed dcache's deadline (\`--remote-timeout\`, 2 s); such a host goes on without the remote, as documented, and runs the command.`);
  const delayText =
    delay === 'netem'
      ? `tc netem: a delay of ${options.delayMs} ms on each end of every veth pair, so each direction is delayed once`
      : `a user-space TCP proxy (bench/lib/fleet/delay-proxy.js, a Node process of its own in the root namespace) in front of the server, because this kernel has no tc netem (CONFIG_NET_SCH_NETEM is not set): it holds every byte ${options.delayMs} ms in each direction, and a connection's first bytes one round trip more, for the TCP handshake`;
  return `### Fleet simulation

Written by \`npm run bench:fleet\` (bench/fleet.js); rerun to refresh it, do not edit by hand.

${renderMachine(machine)}
- Other work ran on this machine during the run (it is shared): the figures carry its noise.

#### Method

- Each host is a network namespace (\`ip netns\`) with its own cache directory (\`DCACHE_DIR\`), joined to
  the root namespace by a veth pair on one bridge. The remote runs in the root namespace: redis-server, or
  moto_server (Python's moto, the S3 API, one bucket) for \`s3://\`. The hosts reach it only at 10.213.0.1 on the
  bridge; a namespace has no other route, so nothing leaves the machine.
- Delay: ${delayText}. Configured round trip (RTT): ${2 * options.delayMs} ms; measured from a host's
  namespace, median of 20 requests, server included: ${rtts}.
- Each host runs the built CLI: \`ip netns exec dcfleet-<i> node bin/dcache.js run -v --no-cwd -- sh -c 'sleep ${commandSeconds}; echo ran >> counter; cat payload'\`
  (${payloadBytes} bytes of output), with the default single-flight timers (a 10 s lease, renewed every 2.5 s).
  Every host's process is started first and waits on a pipe; one write to the pipe starts them all at once.
  Each host times its call with its own clock (\`date +%s%N\` around the process: start to exit).
- **Burst**: every host calls at once with an empty cache directory; **executions** counts the lines
  the command itself appended to its counter file.
- **Remote hit**: every host then calls again at once, with a fresh, empty cache directory, so that the
  entry can only come from the remote (each call is checked by its \`-v\` line and its output).
  **Local hit**: every host calls once more at once, with that directory, which now holds the entry.
  Sizes of fewer than ${minSamples} hosts repeat both (ceil(${minSamples} / hosts) rounds), so that every
  size has at least ${minSamples} timed hits. p50 and p99 are nearest-rank percentiles.
- **Goal**: one execution per burst; at p50 a remote hit costs at most a local hit (same size, same
  moment, same contention) plus two round trips plus the transfer (${payloadBytes} bytes on a link without a
  bandwidth limit: counted as 0 ms). "requests per remote hit" is what the server answered during the
  remote-hit calls divided by their number (Redis: INFO commandstats; moto: its access log).
- **Contention**: all hosts share this machine's ${machine.cpu.split('×')[1]?.trim() ?? ''} cores. At 16 and 64
  hosts their Node start-ups queue for the CPU; the server${delay === 'netem' ? '' : ' and the proxy'}, which in a fleet would have
  machines of their own, run under the real-time round-robin policy (\`chrt --rr 10\`), so that the hosts' start-ups
  do not starve them (a moto_server starved that way took over 2 s to answer, and hosts went on without it);
  the 1-host rows are the figures without contention.

#### Results

${table}

${undelayedText}
Burst outcomes (each host's call, by its \`-v\` line):
${outcomes.join('\n')}
${problems.length > 0 ? `\nProblems:\n${problems.join('\n')}\n` : ''}${deadlines.length > 0 ? `\nRemote deadlines missed in the burst:\n${deadlines.join('\n')}\n` : ''}`;
}
