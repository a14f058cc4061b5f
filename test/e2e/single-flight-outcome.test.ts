import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';

// Callers that waited on a run receive that run's outcome, failures
// included, as Go's singleflight hands its error to every waiter: a 5-second
// download that fails is run once for all the make -j targets waiting on
// it, not once each, one after another. The failure is not recorded: a
// call that starts after the run has ended runs it again.

// A download that takes 5 s and fails, noting each attempt.
function failingDownload(box: Sandbox) {
  return box.counter('download.sh', "sleep 5; echo 'partial rows'; echo 'upstream answered 503' >&2; exit 6");
}

// Four shells spinning, as a loaded machine; stopped at clean-up.
function busyLoops(box: Sandbox, count: number): void {
  const loops: ChildProcess[] = Array.from({ length: count }, () => spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  box.onCleanup(() => loops.forEach((l) => l.kill('SIGKILL')));
}

async function callersOfOneFailure(box: Sandbox, callers: number) {
  const download = failingDownload(box);
  const calls = Array.from({ length: callers }, () => startDcache(box, ['run', '--', download.path]));
  const results = await Promise.all(calls.map((c) => c.done));
  return { download, results };
}

describe.each([4, 8])('%i callers of a 5-second download that fails', (callers) => {
  it('run it once, and every caller gets its stdout, stderr and exit code', async ({ box }) => {
    const { download, results } = await callersOfOneFailure(box, callers);
    expect(download.runs()).toBe(1);
    for (const r of results) {
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(6);
      expect(r.stdout.toString()).toBe('partial rows\n');
      expect(plain(r.stderr)).toBe('upstream answered 503\n');
    }
    // not recorded: a call that starts afterwards runs it again
    const later = await startDcache(box, ['run', '--', download.path]).done;
    expect(later.code).toBe(6);
    expect(download.runs()).toBe(2);
  });
});

describe('callers of a failing download on a loaded machine', () => {
  it('run it once under four busy loops', async ({ box }) => {
    busyLoops(box, 4);
    const { download, results } = await callersOfOneFailure(box, 4);
    expect(download.runs()).toBe(1);
    for (const r of results) expect([r.code, r.stdout.toString()]).toEqual([6, 'partial rows\n']);
  });
});

describe('a waiter with --stale-if-error', () => {
  it('replays the last good entry when the run it waited for fails, as the runner does', async ({ box }) => {
    const flag = box.path('fail-now');
    const download = box.counter('download.sh', `if [ -e '${flag}' ]; then sleep 3; echo broken; exit 6; fi; echo 'good rows'`);
    const yesterday = { DCACHE_NOW: '2026-12-06T09:00:00' };
    expect((await startDcache(box, ['run', '--', download.path], { env: yesterday }).done).code).toBe(0);
    box.shell(`touch '${flag}'`);
    const today = { DCACHE_NOW: '2026-12-07T09:00:00' };
    const calls = [0, 1, 2].map(() => startDcache(box, ['run', '--stale-if-error', '--', download.path], { env: today }));
    const results = await Promise.all(calls.map((c) => c.done));
    expect(download.runs()).toBe(2);
    // the runner's own output went out live before the stand-in; the waiters see only the stand-in
    expect(results.map((r) => r.stdout.toString()).sort()).toEqual(['broken\ngood rows\n', 'good rows\n', 'good rows\n']);
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(plain(r.stderr)).toMatch(/failed \(exit 6\); replaying the entry recorded 24h ago .* instead \(--stale-if-error\)\n$/);
    }
  });
});
