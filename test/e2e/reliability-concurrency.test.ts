import { existsSync, writeFileSync } from 'node:fs';
import { locks } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { readPid } from '../support/processes.js';
import { type Running, startDcache } from '../support/running.js';
import { dcacheWithin, type Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// Single flight: concurrent calls of one command run it once; a holder that
// fails or dies hands over to the next caller.

// A command that on its first run only writes its pid to `<name>.started`
// and waits until `<name>.release` exists, then does `first`; every later
// run does `later` at once.
function gated(box: Sandbox, name: string, first: string, later: string) {
  const started = box.path(`${name}.started`);
  const release = box.path(`${name}.release`);
  const command = box.counter(
    name,
    [
      `if [ $(wc -l < '${box.path(`${name}.count`)}') -eq 1 ]; then`,
      `  echo $$ > '${started}'`,
      `  while [ ! -e '${release}' ]; do sleep 0.05; done`,
      `  ${first}`,
      'else',
      `  ${later}`,
      'fi',
    ].join('\n'),
  );
  return {
    ...command,
    started: () => existsSync(started),
    pid: () => readPid(started),
    release: () => writeFileSync(release, ''),
  };
}

// Waits until a waiter says it is waiting (it runs with --verbose).
const waiting = (r: Running) => waitUntil('a waiter waits', () => r.stderr().includes('waiting for'));

// Kills a background dcache that has not finished after `limitMs`: its
// result then has a signal, which fails the test.
async function finishWithin(r: Running, limitMs: number) {
  const timer = setTimeout(() => r.child.kill('SIGKILL'), limitMs);
  try {
    return await r.done;
  } finally {
    clearTimeout(timer);
  }
}

describe('single flight', () => {
  it('runs a 1-second command once for 16 concurrent calls, and every call prints its output', async ({ box }) => {
    const command = box.counter('slow.sh', 'sleep 1; echo "the result"');
    const calls = Array.from({ length: 16 }, () => startDcache(box, ['run', '--', command.path]));
    const results = await Promise.all(calls.map((c) => c.done));
    expect(command.runs()).toBe(1);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('the result\n');
      expect(r.stderr).toBe('');
    }
  });

  it('says with --verbose that a waiter waits for the holder, then replays its entry', async ({ box }) => {
    const command = gated(box, 'gated.sh', 'echo recorded', 'echo ran-again');
    const holder = startDcache(box, ['run', '--', command.path]);
    await waitUntil('the command runs', command.started);
    const waiters = [1, 2, 3].map(() => startDcache(box, ['run', '-v', '--', command.path]));
    for (const w of waiters) await waiting(w);
    command.release();
    const held = await holder.done;
    expect(held.stdout.toString()).toBe('recorded\n');
    expect(held.stderr).toBe('');
    for (const w of waiters) {
      const r = await w.done;
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('recorded\n');
      const lines = plain(r.stderr).trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toBe(`dcache: waiting for process ${holder.pid}, which is running the same command`);
      expect(lines[1]).toMatch(/^dcache: hit: recorded \d+s ago/);
    }
    expect(command.runs()).toBe(1);
  });

  it('gives the waiter the holder\'s failure when failures are not cached, and the next call runs again', async ({ box }) => {
    const command = gated(box, 'flaky.sh', 'echo partial; echo failed >&2; exit 1', 'echo ok');
    const holder = startDcache(box, ['run', '--', command.path]);
    await waitUntil('the command runs', command.started);
    const waiter = startDcache(box, ['run', '-v', '--', command.path]);
    await waiting(waiter);
    command.release();
    const held = await holder.done;
    expect(held.code).toBe(1);
    expect(held.stdout.toString()).toBe('partial\n');
    expect(held.stderr).toBe('failed\n');
    const r = await waiter.done;
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('partial\n');
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines).toEqual([
      `dcache: waiting for process ${holder.pid}, which is running the same command`,
      'dcache: the run this call waited for failed (exit 1); replaying its output, which is not recorded',
      'failed',
    ]);
    expect(command.runs()).toBe(1);
    // the failure is not recorded: a call that starts now runs, and records
    expect(box.dcache(['run', '--', command.path]).stdout.toString()).toBe('ok\n');
    expect(command.runs()).toBe(2);
    expect(box.dcache(['run', '--', command.path]).stdout.toString()).toBe('ok\n');
    expect(command.runs()).toBe(2);
  });

  it('makes a waiter that started before the holder replay the holder\'s entry', async ({ box }) => {
    // The waiter starts first, but is slow to reach the lock: it reads its
    // standard input (--stdin) from a producer that takes its time.
    const command = gated(box, 'slow-reader.sh', 'echo recorded', 'echo ran-again');
    const waiter = startDcache(box, ['run', '-v', '--stdin', '--', command.path], { stdin: 'pipe' });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const holder = startDcache(box, ['run', '--stdin', '--', command.path], { stdin: 'pipe' });
    holder.child.stdin!.end('query\n');
    await waitUntil('the command runs', command.started);
    waiter.child.stdin!.end('query\n');
    await waiting(waiter);
    command.release();
    expect((await holder.done).stdout.toString()).toBe('recorded\n');
    const r = await waiter.done;
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('recorded\n');
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines[0]).toBe(`dcache: waiting for process ${holder.pid}, which is running the same command`);
    expect(lines[1]).toMatch(/^dcache: hit: /);
    expect(command.runs()).toBe(1);
  });

  it('takes over at once the lock of a holder killed with -9', async ({ box }) => {
    const command = gated(box, 'hold.sh', 'echo never', 'echo done');
    const holder = startDcache(box, ['run', '--', command.path]);
    await waitUntil('the command runs', command.started);
    box.killAtCleanup(command.pid());
    holder.child.kill('SIGKILL');
    expect((await holder.done).signal).toBe('SIGKILL');
    expect(locks(box.cacheDir)).toHaveLength(1);
    const next = dcacheWithin(box, 10_000, ['run', '--', command.path]);
    expect(next.signal).toBeNull();
    expect(next.code).toBe(0);
    expect(next.stdout.toString()).toBe('done\n');
    expect(next.stderr).toBe('');
    expect(command.runs()).toBe(2);
  });

  it('lets a waiter run the command when the holder it waits for is killed with -9', async ({ box }) => {
    const command = gated(box, 'hold.sh', 'echo never', 'echo done');
    const holder = startDcache(box, ['run', '--', command.path]);
    await waitUntil('the command runs', command.started);
    box.killAtCleanup(command.pid());
    const waiter = startDcache(box, ['run', '-v', '--', command.path]);
    await waiting(waiter);
    holder.child.kill('SIGKILL');
    const r = await finishWithin(waiter, 10_000);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('done\n');
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines[0]).toBe(`dcache: waiting for process ${holder.pid}, which is running the same command`);
    expect(lines[1]).toBe(`dcache: taking the lock over from process ${holder.pid}: it is no longer running`);
    expect(lines[2]).toMatch(/^dcache: miss \(no entry\); running /);
    expect(lines[3]).toMatch(/^dcache: recorded 5 B in /);
    expect(lines).toHaveLength(4);
    expect(command.runs()).toBe(2);
  });
});
