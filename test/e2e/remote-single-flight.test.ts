
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { machine } from '../support/machines.js';
import { plain } from '../support/messages.js';
import { RedisBackend } from '../support/remotes.js';
import { type Running, startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// Single flight across machines on Redis: machines that miss the same key at
// once run the command once, and the others wait and replay its result. A
// holder that dies loses its lease. Each command here waits at a gate the
// test opens once every machine is where the test wants it, so nothing
// depends on timing.

let redis: RedisBackend;
beforeAll(async () => {
  redis = await RedisBackend.start();
});
afterAll(async () => {
  await redis?.stop();
});

const started: Running[] = [];
beforeEach(async () => {
  await redis.reset();
});
afterEach(async ({ box }) => {
  openGate(box);
  for (const name of ['gate-holder', 'gate-local', 'gate-late', 'gate-a', 'gate-b']) writeFileSync(box.path(name), '');
  await Promise.all(started.splice(0).map((r) => r.done));
});

const gate = (box: Sandbox) => box.path('gate');
const openGate = (box: Sandbox) => writeFileSync(gate(box), '');

// Waits at the gate ($GATE if set), fails if $FAIL is set, then says which
// run of it this is. Its shell's pid is left in `<name>.pid`, so a test can
// stop the command of a killed dcache.
function gated(box: Sandbox, name = 'job.sh', last = '') {
  const count = box.path(`${name}.count`);
  return box.counter(
    name,
    [
      `echo $$ > '${box.path(`${name}.pid`)}'`,
      `while [ ! -f "\${GATE:-${gate(box)}}" ]; do sleep 0.02; done`,
      '[ -n "$FAIL" ] && exit 1',
      `printf 'result %s\\n' "$(wc -l < '${count}' | tr -d ' ')"`,
      last,
    ].join('\n'),
  );
}

function start(box: Sandbox, name: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const running = machine(box, name).start(args, env);
  started.push(running);
  return running;
}

const lockKeys = () => redis.client.keys('dcache:v2:{*}:lock');
// A lease short enough that commands of a few seconds outlive it several
// times (shorter still, a loaded machine can delay a renewal past it).
const SHORT_LEASE = { DCACHE_LOCK_LEASE: '1s' };
const WAITING = /dcache: waiting for another machine \(process \d+ on [^)]+\), which is running the same command\n/;
// each of the machines has either taken the lock or is waiting for it
const WAITING_OR_RUNNING = /dcache: (waiting for another machine|miss \(no entry\); running )/;

it('runs the command once for five machines that miss the same key at once, and all print its result', async ({ box }) => {
  const script = gated(box);
  const runs = ['m1', 'm2', 'm3', 'm4', 'm5'].map((name) => start(box, name, ['run', '-v', '--remote', redis.url(), '--', script.path]));
  await Promise.all(runs.map((r) => r.stderrMatches(WAITING_OR_RUNNING)));
  openGate(box);
  const results = await Promise.all(runs.map((r) => r.done));
  expect(script.runs()).toBe(1);
  expect(results.map((r) => r.stdout.toString())).toEqual(Array(5).fill('result 1\n'));
  expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);
});

it('tells, in verbose mode, each of the four waiting machines that the hit came from the remote', async ({ box }) => {
  const script = gated(box);
  const runs = ['m1', 'm2', 'm3', 'm4', 'm5'].map((name) => start(box, name, ['run', '-v', '--remote', redis.url(), '--', script.path]));
  await Promise.all(runs.map((r) => r.stderrMatches(WAITING_OR_RUNNING)));
  openGate(box);
  const results = await Promise.all(runs.map((r) => r.done));
  const waiters = results.map((r) => plain(r.stderr)).filter((text) => WAITING.test(text));
  expect(waiters).toHaveLength(4);
  for (const text of waiters) expect(text).toMatch(/^dcache: waiting for another machine \([^\n]*\ndcache: hit on the remote cache [^\n]*\n$/);
});

it('holds the lock on Redis while the command runs', async ({ box }) => {
  const script = box.counter('job.sh', `redis-cli -p ${redis.server.port} --scan --pattern 'dcache:v2:{*}:lock' | wc -l | tr -d ' '`);
  const ran = machine(box, 'a').run(['run', '--remote', redis.url(), '--', script.path]);
  expect(ran.stdout.toString()).toBe('1\n');
});

it('releases the lock on Redis when the run is done', async ({ box }) => {
  machine(box, 'a').run(['run', '--remote', redis.url(), '--', box.counter('job.sh', 'echo data').path]);
  expect(await lockKeys()).toEqual([]);
});

it('takes no lock on Redis when read-only', async ({ box }) => {
  const script = box.counter('job.sh', `redis-cli -p ${redis.server.port} --scan --pattern 'dcache:v2:{*}:lock' | wc -l | tr -d ' '`);
  const ran = machine(box, 'a').run(['run', '--remote-read-only', '--remote', redis.url(), '--', script.path]);
  expect(ran.stdout.toString()).toBe('0\n');
});

it('makes a read-only machine wait for a writable one’s run and replay it', async ({ box }) => {
  const script = gated(box);
  const writer = start(box, 'writer', ['run', '--remote', redis.url(), '--', script.path]);
  await waitUntil('the writer runs the command', () => script.runs() === 1);
  const reader = start(box, 'reader', ['run', '-v', '--remote-read-only', '--remote', redis.url(), '--', script.path]);
  await reader.stderrMatches(WAITING);
  openGate(box);
  const [, read] = await Promise.all([writer.done, reader.done]);
  expect(script.runs()).toBe(1);
  expect(read.stdout.toString()).toBe('result 1\n');
  expect(read.code).toBe(0);
});

it('runs the command on a waiting machine when the holder’s run fails and records nothing', async ({ box }) => {
  const script = gated(box, 'job.sh', '[ "$(wc -l < \'' + box.path('job.sh.count') + '\' | tr -d \' \')" = 1 ] && exit 4 || exit 0');
  const first = start(box, 'first', ['run', '--remote', redis.url(), '--', script.path]);
  await waitUntil('the first machine runs the command', () => script.runs() === 1);
  const second = start(box, 'second', ['run', '-v', '--remote', redis.url(), '--', script.path]);
  await second.stderrMatches(WAITING);
  openGate(box);
  const [failed, ran] = await Promise.all([first.done, second.done]);
  expect(failed.code).toBe(4);
  expect(script.runs()).toBe(2);
  expect(ran.stdout.toString()).toBe('result 2\n');
  expect(ran.code).toBe(0);
});

it('lets the next machine run the command once a holder killed with SIGKILL has lost its lease', async ({ box }) => {
  const script = gated(box);
  const holder = start(box, 'holder', ['run', '--remote', redis.url(), '--', script.path], SHORT_LEASE);
  await waitUntil('the holder runs the command', () => script.runs() === 1);
  await waitUntil('the holder holds the lock', async () => (await lockKeys()).length === 1);
  holder.child.kill('SIGKILL');
  await holder.done;
  // the killed dcache's command is ours to stop too
  process.kill(Number(readFileSync(box.path('job.sh.pid'), 'utf8')), 'SIGKILL');
  openGate(box);
  const next = await start(box, 'next', ['run', '--remote', redis.url(), '--', script.path], SHORT_LEASE).done;
  expect(next.timedOut).toBe(false);
  expect(script.runs()).toBe(2);
  expect(next.stdout.toString()).toBe('result 2\n');
  expect(next.code).toBe(0);
});

it('replays the remote entry on a machine that waited for a local run which recorded nothing', async ({ box }) => {
  const script = gated(box);
  const url = redis.url();
  // machine Y holds the remote lock and runs the command
  const holder = start(box, 'y', ['run', '--remote', url, '--', script.path], { GATE: box.path('gate-holder') });
  await waitUntil('machine Y runs the command', () => script.runs() === 1);
  await waitUntil('machine Y holds the lock', async () => (await lockKeys()).length === 1);
  // on machine X, a run without the remote holds X's local lock, and will fail
  const local = start(box, 'x', ['run', '--', script.path], { GATE: box.path('gate-local'), FAIL: '1' });
  await waitUntil('the local run on machine X runs the command', () => script.runs() === 2);
  // machine X misses on the remote (Y is not done) and waits for its local run
  const late = start(box, 'x', ['run', '-v', '--remote', url, '--', script.path], { GATE: box.path('gate-late') });
  await late.stderrMatches(/dcache: waiting for process \d+/);
  writeFileSync(box.path('gate-holder'), '');
  const held = await holder.done;
  expect(held.code).toBe(0);
  writeFileSync(box.path('gate-local'), '');
  expect((await local.done).code).toBe(1);
  writeFileSync(box.path('gate-late'), '');
  const replayed = await late.done;
  expect(script.runs()).toBe(2);
  // machine Y's own output (it printed after the local run had started)
  expect(replayed.stdout.toString()).toBe(held.stdout.toString());
});

describe('leases on Redis, with commands longer than the lease', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('runs a command of 3.5 leases once for four staggered machines, and all print its output', async ({ box }) => {
    const script = box.counter('download.sh', "sleep 3.5; printf 'line %s\\n' 1 2 3");
    const runs: Running[] = [];
    for (const name of ['m1', 'm2', 'm3', 'm4']) {
      runs.push(start(box, name, ['run', '--remote', redis.url(), '--', script.path], SHORT_LEASE));
      await sleep(400);
    }
    const results = await Promise.all(runs.map((r) => r.done));
    expect(script.runs()).toBe(1);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('line 1\nline 2\nline 3\n');
    }
    expect(await lockKeys()).toEqual([]);
  });

  it('takes the lock over from a stopped machine; woken, that machine learns it and leaves the new lock alone', async ({ box }) => {
    const script = gated(box);
    const a = start(box, 'a', ['run', '-v', '--remote', redis.url(), '--', script.path], { ...SHORT_LEASE, GATE: box.path('gate-a') });
    await waitUntil('machine A runs the command', () => script.runs() === 1);
    await waitUntil('machine A holds the lock', async () => (await lockKeys()).length === 1);
    process.kill(a.child.pid!, 'SIGSTOP');
    try {
      const b = start(box, 'b', ['run', '-v', '--remote', redis.url(), '--', script.path], { ...SHORT_LEASE, GATE: box.path('gate-b') });
      await waitUntil('machine B takes over and runs the command', () => script.runs() === 2);
      const lock = await redis.client.get((await lockKeys())[0]!);
      expect(lock).toContain(`"pid":${b.child.pid}`);
      // A's command ends while A is stopped; then A wakes up.
      writeFileSync(box.path('gate-a'), '');
      process.kill(a.child.pid!, 'SIGCONT');
      const woken = await a.done;
      expect(woken.code).toBe(0);
      expect(plain(woken.stderr)).toMatch(/dcache: lost the lock of this entry: the lock lapsed/);
      // B's lock is still there: a third machine waits for B
      expect(await redis.client.get((await lockKeys())[0]!)).toBe(lock);
      const c = start(box, 'c', ['run', '-v', '--remote', redis.url(), '--', script.path], { ...SHORT_LEASE, DCACHE_NOW: '2031-01-01T00:00:00', GATE: box.path('gate-b') });
      await c.stderrMatches(new RegExp(`waiting for another machine \\(process ${b.child.pid} on `));
      writeFileSync(box.path('gate-b'), '');
      expect((await b.done).code).toBe(0);
      expect((await c.done).code).toBe(0);
    } finally {
      if (a.child.exitCode === null && a.child.signalCode === null) process.kill(a.child.pid!, 'SIGCONT');
    }
  });

  it('takes over, after one lease, a lock key set by hand without an expiry', async ({ box }) => {
    const script = box.counter('job.sh', 'echo ran');
    const key = machine(box, 'probe').run(['status', '--explain', '--', script.path]).stdout.toString().split('\n')[0]!.slice('key '.length);
    await redis.client.set(`dcache:v2:{${key}}:lock`, 'held by hand');
    const r = await start(box, 'a', ['run', '-v', '--remote', redis.url(), '--', script.path], SHORT_LEASE).done;
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('ran\n');
    expect(plain(r.stderr)).toContain(
      'dcache: taking the lock over from another machine (an unknown holder): its lock key has no expiry',
    );
    expect(await lockKeys()).toEqual([]);
  });

  it('releases both locks when interrupted while it waits for another machine', async ({ box }) => {
    const script = gated(box);
    const holder = start(box, 'a', ['run', '--remote', redis.url(), '--', script.path], SHORT_LEASE);
    await waitUntil('machine A runs the command', () => script.runs() === 1);
    const waiter = startDcache(box, ['run', '-v', '--remote', redis.url(), '--', script.path], {
      env: { ...SHORT_LEASE, DCACHE_DIR: box.path('cache-b') },
      group: true,
    });
    started.push(waiter);
    await waiter.stderrMatches(WAITING);
    // B holds its own machine's lock while it waits for A's
    expect(readdirSync(join(box.path('cache-b'), 'locks')).filter((n) => n.endsWith('.lock'))).toHaveLength(1);
    process.kill(-waiter.child.pid!, 'SIGINT');
    const r = await waiter.done;
    expect(r.code).toBe(130);
    expect(readdirSync(join(box.path('cache-b'), 'locks')).filter((n) => n.endsWith('.lock'))).toEqual([]);
    expect(script.runs()).toBe(1);
    openGate(box);
    expect((await holder.done).code).toBe(0);
  });
});
