import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { locks } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { killGroup } from '../support/processes.js';
import { type Running, startDcache } from '../support/running.js';
import { BIN, type Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// Single flight for commands longer than the lock's lease. The lease is
// shortened to 1 s (DCACHE_LOCK_LEASE), so a command of 3.5 seconds outlives
// it several times over: every heartbeat, renewal and take-over rule is
// exercised. (Shorter still, a loaded test machine can delay a heartbeat
// past the lease.) One test keeps the real defaults with a longer command.

const LEASE = { DCACHE_LOCK_LEASE: '1s' };

function start(box: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}, group = false): Running {
  const running = startDcache(box, args, { env: { ...LEASE, ...env }, group });
  return running;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A command that runs `seconds`, then prints three lines (its full output).
function slow(box: Sandbox, name: string, seconds: number) {
  return box.counter(name, `sleep ${seconds}\nprintf 'line %s\\n' 1 2 3`);
}
const FULL = 'line 1\nline 2\nline 3\n';

// A command whose n-th run waits for the file `<name>.gate-<n>`; it leaves
// `<name>.started-<n>` with its shell's pid once running.
function gatedRuns(box: Sandbox, name: string) {
  const count = box.path(`${name}.count`);
  const command = box.counter(
    name,
    [
      `n=$(wc -l < '${count}' | tr -d ' ')`,
      `echo $$ > '${box.path(name)}.started-'$n`,
      `while [ ! -e '${box.path(name)}.gate-'$n ]; do sleep 0.02; done`,
      'echo "run $n"',
    ].join('\n'),
  );
  return {
    ...command,
    started: (n: number) => existsSync(box.path(`${name}.started-${n}`)),
    open: (n: number) => writeFileSync(box.path(`${name}.gate-${n}`), ''),
    pid: (n: number) => Number(readFileSync(box.path(`${name}.started-${n}`), 'utf8').trim()),
  };
}

// The lock file of the one key in the sandbox's cache, parsed; null if none.
function lockOwner(box: Sandbox): { pid: number } | null {
  const names = locks(box.cacheDir);
  if (names.length === 0) return null;
  return JSON.parse(readFileSync(join(box.cacheDir, 'locks', names[0]!), 'utf8')) as { pid: number };
}

describe('single flight with commands longer than the lease', () => {
  it('runs a command of 3.5 leases once for four staggered callers, and all print its full output', async ({ box }) => {
    const command = slow(box, 'download.sh', 3.5);
    const calls: Running[] = [];
    for (let i = 0; i < 4; i++) {
      calls.push(start(box, ['run', '--', command.path]));
      await sleep(400);
    }
    const results = await Promise.all(calls.map((c) => c.done));
    expect(command.runs()).toBe(1);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe(FULL);
      expect(r.stderr).toBe('');
    }
    expect(locks(box.cacheDir)).toEqual([]);
  });

  it('leaves no lock after a long run, so the next miss starts without waiting', async ({ box }) => {
    const command = slow(box, 'download.sh', 3.5);
    const first = await start(box, ['run', '-p', 'ttl:1m', '--', command.path], { DCACHE_NOW: '2026-03-02T09:00:00' }).done;
    expect(first.stdout.toString()).toBe(FULL);
    expect(locks(box.cacheDir)).toEqual([]);
    const next = await start(box, ['run', '-v', '-p', 'ttl:1m', '--', command.path], { DCACHE_NOW: '2026-03-02T10:00:00' }).done;
    expect(next.code).toBe(0);
    expect(plain(next.stderr)).not.toMatch(/waiting/);
    expect(plain(next.stderr)).toMatch(/^dcache: miss \(stale since [^)]*\); running /);
    expect(command.runs()).toBe(2);
  });

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`releases the lock when the process group gets ${signal} during a long run, so the next call starts at once`, async ({ box }) => {
      const command = gatedRuns(box, 'job.sh');
      const holder = start(box, ['run', '--', command.path], {}, true);
      await waitUntil('the command runs', () => command.started(1));
      // after several heartbeats
      await sleep(2500);
      process.kill(-holder.pid, signal);
      const r = await holder.done;
      expect(r.code).toBe(code);
      expect(locks(box.cacheDir)).toEqual([]);
      command.open(2);
      const next = await start(box, ['run', '-v', '--', command.path]).done;
      expect(next.code).toBe(0);
      expect(next.stdout.toString()).toBe('run 2\n');
      expect(plain(next.stderr)).not.toMatch(/waiting/);
      expect(command.runs()).toBe(2);
    });
  }

  it('takes over from a stopped holder after the lease; the holder, woken, learns it and leaves the new lock alone', async ({ box }) => {
    const command = gatedRuns(box, 'job.sh');
    const a = start(box, ['run', '-v', '--', command.path]);
    await waitUntil('the first run starts', () => command.started(1));
    box.killAtCleanup(command.pid(1));
    process.kill(a.pid, 'SIGSTOP');
    try {
      const b = start(box, ['run', '-v', '--', command.path]);
      await waitUntil('the second caller takes over and runs the command', () => command.started(2));
      box.killAtCleanup(command.pid(2));
      expect(plain(b.stderr())).toMatch(
        // (B says it waits only if A's lease had not yet run out when B looked)
        new RegExp(`^(dcache: waiting for process ${a.pid}, which is running the same command\\n)?` +
          `dcache: taking the lock over from process ${a.pid}: it has not renewed its lock for \\d+s \\(stopped, frozen or cut off\\)\\n`),
      );
      expect(lockOwner(box)?.pid).toBe(b.pid);
      // The stopped holder's command finishes; then the holder wakes up.
      command.open(1);
      process.kill(a.pid, 'SIGCONT');
      const woken = await a.done;
      expect(woken.code).toBe(0);
      expect(woken.stdout.toString()).toBe('run 1\n');
      expect(plain(woken.stderr)).toMatch(/dcache: lost the lock of this entry: process \d+ took the lock over while this process held it/);
      // It left B's lock in place: a third caller waits for B.
      expect(lockOwner(box)?.pid).toBe(b.pid);
      const c = start(box, ['run', '-v', '--', command.path], { DCACHE_NOW: '2030-01-01T00:00:00' });
      await waitUntil('the third caller waits', () => c.stderr().includes('waiting for'));
      expect(plain(c.stderr())).toContain(`dcache: waiting for process ${b.pid}, which is running the same command`);
      command.open(2);
      command.open(3);
      expect((await b.done).stdout.toString()).toBe('run 2\n');
      const third = await c.done;
      expect(third.code).toBe(0);
      expect(locks(box.cacheDir)).toEqual([]);
    } finally {
      killGroup(a.pid);
    }
  });

  it('runs a shared download longer than three leases once under make -j8', ({ box }) => {
    const download = slow(box, 'download.sh', 3.5);
    const targets = Array.from({ length: 8 }, (_, i) => `report-${i}.txt`);
    const dcache = `'${process.execPath}' '${BIN}'`;
    writeFileSync(
      box.path('Makefile'),
      [
        `all: ${targets.join(' ')}`,
        ...targets.flatMap((t) => [`${t}:`, `\t${dcache} run -q -o raw.csv -- sh -c './download.sh > raw.csv'`, `\twc -l < raw.csv > ${t}`]),
        '',
      ].join('\n'),
    );
    const r = box.shell('make -s -j8', { env: LEASE });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(download.runs()).toBe(1);
    for (const t of targets) expect(readFileSync(box.path(t), 'utf8').trim()).toBe('3');
    expect(locks(box.cacheDir)).toEqual([]);
  });

  it('waits no longer than DCACHE_LOCK_MAX_WAIT, then runs the command itself and says so once', async ({ box }) => {
    const command = gatedRuns(box, 'job.sh');
    const holder = start(box, ['run', '--', command.path]);
    await waitUntil('the first run starts', () => command.started(1));
    box.killAtCleanup(command.pid(1));
    command.open(2);
    const waiter = await start(box, ['run', '--', command.path], { DCACHE_LOCK_MAX_WAIT: '1500ms' }).done;
    expect(waiter.code).toBe(0);
    expect(waiter.stdout.toString()).toBe('run 2\n');
    expect(plain(waiter.stderr)).toMatch(
      new RegExp(
        `^dcache: waited \\d+s for process ${holder.pid}, the longest dcache waits \\(DCACHE_LOCK_MAX_WAIT, 1s\\); running the command without waiting\\n$`,
      ),
    );
    command.open(1);
    expect((await holder.done).code).toBe(0);
  });

  it('warns once about a bad DCACHE_LOCK_LEASE and runs with the default', ({ box }) => {
    const r = box.dcache(['run', '--', 'echo', 'hi'], { env: { DCACHE_LOCK_LEASE: 'soon' } });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toBe(
      "dcache: DCACHE_LOCK_LEASE 'soon' is not a duration; use a number and a unit: 90s, 15m, 6h, 1h30m, 2d12h, 1w; using the default\n",
    );
  });
});

describe('single flight with the real lease (10 s)', () => {
  it('runs a 12-second command once for three staggered callers, the waiters saying every 5 s how long they have waited', async ({ box }) => {
    const command = slow(box, 'download.sh', 12);
    const calls: Running[] = [];
    for (let i = 0; i < 3; i++) {
      calls.push(startDcache(box, ['run', '-v', '--', command.path]));
      await sleep(3000);
    }
    const results = await Promise.all(calls.map((c) => c.done));
    expect(command.runs()).toBe(1);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe(FULL);
    }
    const holder = calls[0]!.pid;
    const waited = plain(results[1]!.stderr);
    expect(waited).toContain(`dcache: waiting for process ${holder}, which is running the same command\n`);
    expect(waited).toMatch(new RegExp(`dcache: still waiting for process ${holder}, for [5-6]s now\\n`));
    expect(waited).not.toMatch(/taking the lock over/);
    expect(locks(box.cacheDir)).toEqual([]);
  });
});
