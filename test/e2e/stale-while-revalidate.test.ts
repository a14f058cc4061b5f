import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { RedisBackend } from '../support/remotes.js';
import { startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// --stale-while-revalidate and dcache warm, end to end, with time moved by
// DCACHE_NOW. A refresh runs in a process of its own: the job below waits
// at a gate the test opens, and writes a marker when it is done, so that
// "returned before the refresh ended" is a fact about files, not a timing.

const YESTERDAY = '2026-11-28T10:00:00Z';
const TODAY = '2026-11-29T10:00:00Z';
const NEXT_WEEK = '2026-12-06T10:00:00Z';

// Each run waits for `gate`, fails if `fail` exists, then prints which run it
// is and leaves `done.<n>`.
function job(box: Sandbox) {
  const script = box.counter(
    'job.sh',
    [
      `while [ ! -f '${box.path('gate')}' ]; do sleep 0.02; done`,
      `n=$(wc -l < '${box.path('job.sh.count')}' | tr -d ' ')`,
      `[ -f '${box.path('fail')}' ] && { echo "failed $n" >&2; exit 5; }`,
      'echo "version $n"',
      `touch '${box.path('done')}'.$n`,
    ].join('\n'),
  );
  return { ...script, open: () => writeFileSync(box.path('gate'), '') };
}

const at = (when: string, extra: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: when, ...extra } });

// The pid of each refresh a call started, from its -v line; killed at clean-up.
function refreshPids(box: Sandbox, stderr: string): number[] {
  const pids = [...plain(stderr).matchAll(/refreshing in the background \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  for (const pid of pids) box.killAtCleanup(pid);
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function refreshesEnded(pids: number[]): Promise<void> {
  await waitUntil('the background refreshes have ended', () => pids.every((pid) => !alive(pid)));
}

// Records version 1 yesterday, under `daily`.
function recordYesterday(box: Sandbox, script: ReturnType<typeof job>, args: string[] = []) {
  script.open();
  const first = box.dcache(['run', '-p', 'daily', ...args, '--', script.path], at(YESTERDAY));
  expect(first.stdout.toString()).toBe('version 1\n');
  // closed again: the refreshes wait at it
  rmSync(box.path('gate'));
}

describe('--stale-while-revalidate', () => {
  const swr = ['run', '-v', '-p', 'daily', '--stale-while-revalidate', '1d'];

  it('replays a stale entry at once, inside the window, and the refresh records the new output for the next call', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const stale = box.dcache([...swr, '--', script.path], at(TODAY));
    expect(stale.code).toBe(0);
    expect(stale.stdout.toString()).toBe('version 1\n');
    expect(plain(stale.stderr)).toMatch(
      /^dcache: stale hit: recorded 24h ago \(2026-11-28 [\d:]+ [^)]+\), stale by \d+h \(daily\)\ndcache: refreshing in the background \(pid \d+\)\n$/,
    );
    const [pid] = refreshPids(box, stale.stderr);
    // the call returned while its refresh still waits at the gate
    expect(existsSync(box.path('done.2'))).toBe(false);
    expect(alive(pid!)).toBe(true);
    script.open();
    await refreshesEnded([pid!]);
    expect(existsSync(box.path('done.2'))).toBe(true);
    const next = box.dcache([...swr, '--', script.path], at(TODAY));
    expect(next.stdout.toString()).toBe('version 2\n');
    expect(plain(next.stderr)).toMatch(/^dcache: hit: /);
    expect(script.runs()).toBe(2);
  });

  it('says its -v line before the replayed output, as a hit does, and what became of the refresh after it', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const hit = box.shell(`$DCACHE run -v -p daily -- '${script.path}' 2>&1`, at(YESTERDAY));
    const stale = box.shell(`$DCACHE ${swr.join(' ')} -- '${script.path}' 2>&1`, at(TODAY));
    const pids = refreshPids(box, stale.stdout.toString());
    const shape = (text: string) => plain(text).split('\n').map((line) => line.replace(/^dcache: ([^:(]*?)\s*[:(].*$/, 'dcache: $1'));
    expect(shape(hit.stdout.toString())).toEqual(['dcache: hit', 'version 1', '']);
    expect(shape(stale.stdout.toString())).toEqual(['dcache: stale hit', 'version 1', 'dcache: refreshing in the background', '']);
    script.open();
    await refreshesEnded(pids);
  });

  it('runs the command in one refresh for six stale callers at once, and each replays the stale output', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const calls = await Promise.all(Array.from({ length: 6 }, () => startDcache(box, [...swr, '--', script.path], at(TODAY)).done));
    expect(calls.map((c) => c.stdout.toString())).toEqual(Array(6).fill('version 1\n'));
    const pids = calls.flatMap((c) => refreshPids(box, c.stderr));
    expect(pids.length).toBeGreaterThanOrEqual(1);
    script.open();
    await refreshesEnded(pids);
    expect(script.runs()).toBe(2);
    expect(box.dcache([...swr, '--', script.path], at(TODAY)).stdout.toString()).toBe('version 2\n');
  });

  // (six callers started one or more refreshes; fifty started between one and seven)
  it('starts one refresh process for fifty stale callers at once', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const calls = await Promise.all(Array.from({ length: 50 }, () => startDcache(box, [...swr, '--', script.path], at(TODAY)).done));
    expect(calls.map((c) => c.stdout.toString())).toEqual(Array(50).fill('version 1\n'));
    const pids = calls.flatMap((c) => refreshPids(box, c.stderr));
    expect(pids).toHaveLength(1);
    for (const c of calls) expect(plain(c.stderr)).toMatch(/\ndcache: (refreshing in the background|a refresh is already (running|starting))/);
    script.open();
    await refreshesEnded(pids);
    expect(script.runs()).toBe(2);
  });

  it('starts one refresh process for fifty stale callers at once under four busy loops', async ({ box }) => {
    const loops = Array.from({ length: 4 }, () => spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    box.onCleanup(() => loops.forEach((l) => l.kill('SIGKILL')));
    const script = job(box);
    recordYesterday(box, script);
    const calls = await Promise.all(Array.from({ length: 50 }, () => startDcache(box, [...swr, '--', script.path], at(TODAY)).done));
    expect(calls.filter((c) => c.stdout.toString() === 'version 1\n')).toHaveLength(50);
    const pids = calls.flatMap((c) => refreshPids(box, c.stderr));
    expect(pids).toHaveLength(1);
    script.open();
    await refreshesEnded(pids);
    expect(script.runs()).toBe(2);
  });

  it('says a refresh is already running instead of starting another', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const first = box.dcache([...swr, '--', script.path], at(TODAY));
    const pids = refreshPids(box, first.stderr);
    await waitUntil('the refresh runs the command', () => script.runs() === 2);
    const second = box.dcache([...swr, '--', script.path], at(TODAY));
    expect(second.stdout.toString()).toBe('version 1\n');
    expect(plain(second.stderr)).toMatch(/\ndcache: a refresh is already running \(process \d+, for \d+s\)\n$/);
    script.open();
    await refreshesEnded(pids);
    expect(script.runs()).toBe(2);
  });

  it('tells a caller that waits on a hung refresh, within ten seconds and without -v, whom it waits for', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const pids = refreshPids(box, box.dcache([...swr, '--', script.path], at(TODAY)).stderr);
    await waitUntil('the refresh runs the command', () => script.runs() === 2);
    // a caller without the option waits for the key's lock, which the refresh holds
    const waiter = startDcache(box, ['run', '-p', 'daily', '--', script.path], at(TODAY));
    await waiter.stderrMatches(/dcache: waiting for a background refresh/);
    const line = plain(waiter.stderr()).split('\n')[0]!;
    expect(line).toMatch(
      new RegExp(
        `^dcache: waiting for a background refresh of this entry \\(process ${pids[0]} on [^,]+, started 2026-\\d\\d-\\d\\d [\\d:]+ [+-]\\d\\d:\\d\\d \\(\\d+s ago\\)\\); ` +
          'waited 1\\ds so far\\. It is stopped once it has run 1m \\(DCACHE_REFRESH_LIMIT\\)$',
      ),
    );
    script.open();
    const done = await waiter.done;
    expect(done.stdout.toString()).toBe('version 2\n');
    await refreshesEnded(pids);
  });

  it('stops a refresh that runs past its limit (DCACHE_REFRESH_LIMIT), keeps the stale entry, and says why in show', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const limit = { DCACHE_REFRESH_LIMIT: '3s' };
    const stale = box.dcache([...swr, '--', script.path], at(TODAY, limit));
    const pids = refreshPids(box, stale.stderr);
    await waitUntil('the refresh runs the command', () => script.runs() === 2);
    // never opened: the refresh's command hangs until its limit
    await refreshesEnded(pids);
    expect(script.runs()).toBe(2);
    const shown = plain(box.dcache(['show', '--json', JSON.parse(box.dcache(['ls', '--json']).stdout.toString()).entries[0].key]).stdout.toString());
    expect(JSON.parse(shown).lastRefreshFailure.failed).toBe('stopped at its time limit, 3s');
    const again = box.dcache([...swr, '--', script.path], at(TODAY, limit));
    expect(again.stdout.toString()).toBe('version 1\n');
    refreshPids(box, again.stderr);
    script.open();
  });

  it('keeps the stale entry when the refresh fails, and show and stats say so', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    writeFileSync(box.path('fail'), '');
    script.open();
    const stale = box.dcache([...swr, '--', script.path], at(TODAY));
    expect(stale.stdout.toString()).toBe('version 1\n');
    await refreshesEnded(refreshPids(box, stale.stderr));
    expect(script.runs()).toBe(2);
    const again = box.dcache([...swr, '--', script.path], at(TODAY));
    expect(again.stdout.toString()).toBe('version 1\n');
    await refreshesEnded(refreshPids(box, again.stderr));
    const key = (JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ key: string }> }).entries[0]!.key;
    const shown = plain(box.dcache(['show', key]).stdout.toString());
    expect(shown).toMatch(/refresh\s+2 background refreshes failed, the last .* \(exit 5\); the stale entry was kept/);
    expect(plain(box.dcache(['stats']).stdout.toString())).toMatch(/refreshes\s+2 background refreshes failed/);
  });

  it('runs the command in the foreground outside the window', ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    script.open();
    const late = box.dcache([...swr, '--', script.path], at(NEXT_WEEK));
    expect(late.stdout.toString()).toBe('version 2\n');
    expect(plain(late.stderr)).toMatch(/^dcache: miss \(stale since /);
    expect(existsSync(box.path('done.2'))).toBe(true);
  });

  it('restores the stale output files on a stale hit', async ({ box }) => {
    const script = box.counter('export.sh', `n=$(wc -l < '${box.path('export.sh.count')}' | tr -d ' '); echo "row $n" > out.csv`);
    box.dcache(['run', '-p', 'daily', '-o', 'out.csv', '--', script.path], at(YESTERDAY));
    writeFileSync(box.path('out.csv'), 'edited by hand\n');
    const stale = box.dcache([...swr, '-o', 'out.csv', '--', script.path], at(TODAY));
    expect(plain(stale.stderr)).toMatch(/^dcache: stale hit: /);
    expect(readFileSync(box.path('out.csv'), 'utf8')).toBe('row 1\n');
    await refreshesEnded(refreshPids(box, stale.stderr));
  });

  it('counts a watched file that changed as stale, inside the window', async ({ box }) => {
    writeFileSync(box.path('input.csv'), 'a\n');
    const script = box.counter('build.sh', 'cat input.csv');
    box.dcache(['run', '-p', 'forever', '-w', 'input.csv', '--', script.path], at(TODAY));
    writeFileSync(box.path('input.csv'), 'a\nb\n');
    const stale = box.dcache(['run', '-v', '-p', 'forever', '-w', 'input.csv', '--stale-while-revalidate', '1h', '--', script.path], at(TODAY));
    expect(stale.stdout.toString()).toBe('a\n');
    expect(plain(stale.stderr)).toMatch(/^dcache: stale hit: .*input\.csv changed.*\ndcache: refreshing in the background/);
    await refreshesEnded(refreshPids(box, stale.stderr));
    expect(box.dcache(['run', '-p', 'forever', '-w', 'input.csv', '--', script.path], at(TODAY)).stdout.toString()).toBe('a\nb\n');
  });

  it('is read from a config file', async ({ box }) => {
    writeFileSync(box.path('.dcache.json'), JSON.stringify({ staleWhileRevalidate: '2d' }));
    const script = job(box);
    recordYesterday(box, script);
    const stale = box.dcache(['run', '-v', '-p', 'daily', '--', script.path], at(TODAY));
    expect(stale.stdout.toString()).toBe('version 1\n');
    expect(plain(stale.stderr)).toMatch(/^dcache: stale hit: /);
    script.open();
    await refreshesEnded(refreshPids(box, stale.stderr));
  });

  it('is shown by status and status --explain: the window, and whether a refresh is running', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const said = box.dcache(['status', '-p', 'daily', '--stale-while-revalidate', '1d', '--', script.path], at(TODAY));
    expect(said.code).toBe(0);
    expect(plain(said.stdout.toString())).toMatch(/^stale: would replay the entry recorded .*, stale by \d+h \(daily\), and refresh it in the background \(refresh: none running\)\n$/);
    const stale = box.dcache([...swr, '--', script.path], at(TODAY));
    const pids = refreshPids(box, stale.stderr);
    await waitUntil('the refresh runs the command', () => script.runs() === 2);
    const explained = plain(box.dcache(['status', '--explain', '-p', 'daily', '--stale-while-revalidate', '1d', '--', script.path], at(TODAY)).stdout.toString());
    expect(explained).toMatch(/\nstale-while-revalidate 24h: stale by \d+h \(daily\), inside the window\n/);
    expect(explained).toMatch(
      /\nverdict: replay the stale entry and refresh it in the background \(stale since .*\)\nrefresh: running for \d+s \(a background refresh \(process \d+\), started [\d-]+ [\d:]+ [+-]\d\d:\d\d; stopped once it has run 1m\)\n$/,
    );
    const outside = plain(box.dcache(['status', '--explain', '-p', 'daily', '--stale-while-revalidate', '1d', '--', script.path], at(NEXT_WEEK)).stdout.toString());
    expect(outside).toMatch(/\nstale-while-revalidate 24h: outside the window\n/);
    script.open();
    await refreshesEnded(pids);
  });

  it('shares what the refresh recorded with the remote, where another machine replays it', async ({ box }) => {
    const redis = await RedisBackend.start();
    try {
      const script = job(box);
      const remote = ['--remote', redis.url(), '--no-cwd'];
      recordYesterday(box, script, remote);
      const stale = box.dcache([...swr, ...remote, '--', script.path], at(TODAY));
      expect(stale.stdout.toString()).toBe('version 1\n');
      script.open();
      await refreshesEnded(refreshPids(box, stale.stderr));
      const other = box.dcache([...swr, ...remote, '--', script.path], { env: { DCACHE_NOW: TODAY, DCACHE_DIR: box.path('machine-b') } });
      expect(plain(other.stderr)).toMatch(/^dcache: hit on the remote cache /);
      expect(other.stdout.toString()).toBe('version 2\n');
    } finally {
      await redis.stop();
    }
  });

  it('names the option and what it takes when the duration is bad', ({ box }) => {
    const bad = box.dcache(['run', '--stale-while-revalidate', 'soon', '--', 'true']);
    expect(bad.code).toBe(125);
    expect(plain(bad.stderr)).toMatch(/^dcache: --stale-while-revalidate 'soon' /);
  });
});

describe('dcache warm', () => {
  it('returns at once with nothing on stdout, and the next call is a hit', async ({ box }) => {
    const script = job(box);
    recordYesterday(box, script);
    const warmed = box.dcache(['warm', '-v', '-p', 'daily', '--', script.path], at(TODAY));
    expect(warmed.code).toBe(0);
    expect(warmed.stdout.toString()).toBe('');
    const pids = refreshPids(box, warmed.stderr);
    expect(pids).toHaveLength(1);
    expect(existsSync(box.path('done.2'))).toBe(false);
    script.open();
    await refreshesEnded(pids);
    const next = box.dcache(['run', '-v', '-p', 'daily', '--', script.path], at(TODAY));
    expect(plain(next.stderr)).toMatch(/^dcache: hit: /);
    expect(next.stdout.toString()).toBe('version 2\n');
  });

  it('does nothing for a fresh entry, and refreshes it with --force', async ({ box }) => {
    const script = job(box);
    script.open();
    box.dcache(['run', '-p', 'daily', '--', script.path], at(TODAY));
    const idle = box.dcache(['warm', '-v', '-p', 'daily', '--', script.path], at(TODAY));
    expect(idle.code).toBe(0);
    expect(plain(idle.stderr)).toMatch(/^dcache: fresh until .*; nothing to refresh\n$/);
    const forced = box.dcache(['warm', '-v', '--force', '-p', 'daily', '--', script.path], at(TODAY));
    await refreshesEnded(refreshPids(box, forced.stderr));
    expect(script.runs()).toBe(2);
    expect(box.dcache(['run', '-p', 'daily', '--', script.path], at(TODAY)).stdout.toString()).toBe('version 2\n');
  });
});
