import { filesUnder, listedEntries } from '../support/cache-files.js';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

const at = (now: string, env: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: now, ...env } });
const TWO_HOURS_AGO = () => new Date(Date.now() - 2 * 60 * 60 * 1000);

const entries = listedEntries;

const files = (box: Sandbox, dir: string) => filesUnder(join(box.cacheDir, dir));

// A command printing `bytes` copies of `char`, so that each entry's size
// is known exactly.
function printer(box: Sandbox, name: string, char: string, bytes = 1000) {
  return box.counter(name, `head -c ${bytes} /dev/zero | tr '\\0' '${char}'`);
}

const ran = (box: Sandbox, script: { path: string }) => entries(box).some((e) => e.argv[0] === script.path);

// A command that does `first`, then waits until the test opens its gate, then
// does `then`: a recording in progress for as long as the test needs it,
// however slow or fast the machine is. The gate opens at clean-up too, so
// that a failed test leaves no command waiting.
function gated(box: Sandbox, name: string, first: string, then: string) {
  const gate = box.path(`${name}.gate`);
  const command = box.counter(name, `${first}\nwhile [ ! -e '${gate}' ]; do sleep 0.02; done\n${then}`);
  const open = () => writeFileSync(gate, '');
  box.onCleanup(open);
  return { ...command, open };
}

// Runs `action` while the process is stopped (SIGSTOP): a dcache run frozen
// at that point of its recording, however slow or fast the machine is.
function whileFrozen<T>(child: ChildProcess, action: () => T): T {
  child.kill('SIGSTOP');
  try {
    return action();
  } finally {
    child.kill('SIGCONT');
  }
}

// The temp file in `dir` that holds `bytes`, if any.
function tempHolding(dir: string, bytes: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  return names.find((name) => {
    try {
      return readFileSync(join(dir, name), 'utf8') === bytes;
    } catch {
      return false;
    }
  });
}

describe('dcache gc', () => {
  it('reports what it freed, and exits 0 on an empty cache', ({ box }) => {
    const r = box.dcache(['gc']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('freed 0 B: 0 entries, 0 blobs, 0 temp files\n');
  });

  it('keeps every entry and its blobs when nothing asks for room', ({ box }) => {
    printer(box, 'a.sh', 'a');
    box.dcache(['run', '--', box.path('a.sh')]);
    const r = box.dcache(['gc']);
    expect(r.stdout.toString()).toBe('freed 0 B: 0 entries, 0 blobs, 0 temp files\n');
    expect(entries(box)).toHaveLength(1);
    expect(files(box, 'blobs')).toHaveLength(1);
  });

  it('removes a blob that no entry names once it is an hour old', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'kept']);
    mkdirSync(join(box.cacheDir, 'blobs', 'ab'), { recursive: true });
    const orphan = join(box.cacheDir, 'blobs', 'ab', 'ab00000000000001');
    writeFileSync(orphan, 'x'.repeat(300));
    utimesSync(orphan, TWO_HOURS_AGO(), TWO_HOURS_AGO());
    const r = box.dcache(['gc']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('freed 300 B: 0 entries, 1 blob, 0 temp files\n');
    expect(existsSync(orphan)).toBe(false);
    expect(files(box, 'blobs')).toHaveLength(1);
  });

  it('keeps a blob that no entry names while it is younger than an hour (a recording may be about to name it)', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'kept']);
    mkdirSync(join(box.cacheDir, 'blobs', 'ab'), { recursive: true });
    const young = join(box.cacheDir, 'blobs', 'ab', 'ab00000000000002');
    writeFileSync(young, 'y');
    const r = box.dcache(['gc']);
    expect(r.stdout.toString()).toBe('freed 0 B: 0 entries, 0 blobs, 0 temp files\n');
    expect(existsSync(young)).toBe(true);
  });

  it('keeps an old blob that an entry names, and the entry still replays', ({ box }) => {
    const a = printer(box, 'a.sh', 'a');
    box.dcache(['run', '--', a.path]);
    for (const blob of files(box, 'blobs')) utimesSync(blob, TWO_HOURS_AGO(), TWO_HOURS_AGO());
    box.dcache(['gc']);
    const hit = box.dcache(['run', '--', a.path]);
    expect(a.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('a'.repeat(1000));
  });

  it('removes the temp files of a recording that crashed more than an hour ago, and keeps younger ones', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'kept']);
    const crashed = join(box.cacheDir, 'tmp', '4242-crashed.tmp');
    const running = join(box.cacheDir, 'tmp', '4243-running.tmp');
    writeFileSync(crashed, 'c'.repeat(120));
    writeFileSync(running, 'r'.repeat(50));
    utimesSync(crashed, TWO_HOURS_AGO(), TWO_HOURS_AGO());
    const r = box.dcache(['gc']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('freed 120 B: 0 entries, 0 blobs, 1 temp file\n');
    expect(existsSync(crashed)).toBe(false);
    expect(existsSync(running)).toBe(true);
  });

  it('removes a damaged entry', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'damaged']);
    box.dcache(['run', '--', 'echo', 'sound']);
    const damaged = entries(box).find((e) => e.argv[1] === 'damaged')!;
    const manifest = join(box.cacheDir, 'entries', damaged.key.slice(0, 2), `${damaged.key}.json`);
    writeFileSync(manifest, '{"format": 1, "key": ');
    const r = box.dcache(['gc']);
    expect(r.code).toBe(0);
    // its blob is left to the sweep of unnamed blobs, an hour later
    expect(r.stdout.toString()).toMatch(/^freed \d+ B: 1 entry, 0 blobs, 0 temp files\n$/);
    expect(existsSync(manifest)).toBe(false);
    expect(entries(box).map((e) => e.argv[1])).toEqual(['sound']);
  });
});

describe('dcache gc --max-age', () => {
  it('removes the entries stale for longer than the duration, and keeps fresh ones and those stale for less', ({ box }) => {
    box.dcache(['run', '-p', 'ttl:1h', '--', 'echo', 'long-stale'], at('2024-08-20T09:00:00'));
    box.dcache(['run', '-p', 'ttl:1h', '--', 'echo', 'just-stale'], at('2024-08-26T20:00:00'));
    box.dcache(['run', '-p', 'daily', '--', 'echo', 'fresh'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '-p', 'forever', '--', 'echo', 'forever'], at('2024-01-01T09:00:00'));
    const r = box.dcache(['gc', '--max-age', '2d'], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^freed \d+ B: 1 entry, 1 blob, 0 temp files\n$/);
    expect(entries(box).map((e) => e.argv[1]).sort()).toEqual(['forever', 'fresh', 'just-stale']);
  });

  it('exits 2 and names the option for a --max-age that is not a duration', ({ box }) => {
    const r = box.dcache(['gc', '--max-age', 'old']);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe("dcache: --max-age 'old' is not a duration; use a number and a unit: 90s, 15m, 6h, 1h30m, 2d12h, 1w\n");
  });
});

describe('dcache gc --max-size', () => {
  it('removes the least recently used entries, by last hit or recording, until the cache fits', ({ box }) => {
    const a = printer(box, 'a.sh', 'a');
    const b = printer(box, 'b.sh', 'b');
    const c = printer(box, 'c.sh', 'c');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', b.path], at('2024-08-27T10:00:00'));
    box.dcache(['run', '--', c.path], at('2024-08-27T11:00:00'));
    // a hit makes the oldest recording the most recently used
    box.dcache(['run', '--', a.path], at('2024-08-27T12:00:00'));
    expect(a.runs()).toBe(1);

    const first = box.dcache(['gc', '--max-size', '2500B'], at('2024-08-27T12:30:00'));
    expect(first.code).toBe(0);
    expect(first.stdout.toString()).toMatch(/^freed [\d.]+ (?:B|KiB): 1 entry, 1 blob, 0 temp files\n$/);
    expect([ran(box, a), ran(box, b), ran(box, c)]).toEqual([true, false, true]);

    box.dcache(['gc', '--max-size', '1500B'], at('2024-08-27T12:30:00'));
    expect([ran(box, a), ran(box, b), ran(box, c)]).toEqual([true, false, false]);
  });

  it('counts a blob shared by two entries once, and keeps it while one of them stays', ({ box }) => {
    const a = printer(box, 'a.sh', 's');
    const b = printer(box, 'b.sh', 's');
    const c = printer(box, 'c.sh', 'c');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', b.path], at('2024-08-27T10:00:00'));
    box.dcache(['run', '--', c.path], at('2024-08-27T11:00:00'));
    expect(files(box, 'blobs')).toHaveLength(2);
    // 2000 bytes stored; evicting a (the oldest) frees nothing, so b goes too
    const r = box.dcache(['gc', '--max-size', '1999B'], at('2024-08-27T12:00:00'));
    expect(r.stdout.toString()).toMatch(/^freed [\d.]+ (?:B|KiB): 2 entries, 1 blob, 0 temp files\n$/);
    expect([ran(box, a), ran(box, b), ran(box, c)]).toEqual([false, false, true]);
    // 2000 bytes fit under 2000: a shared blob counts once
    box.dcache(['run', '--', a.path], at('2024-08-27T12:00:00'));
    box.dcache(['run', '--', b.path], at('2024-08-27T12:00:00'));
    const none = box.dcache(['gc', '--max-size', '2000B'], at('2024-08-27T12:30:00'));
    expect(none.stdout.toString()).toBe('freed 0 B: 0 entries, 0 blobs, 0 temp files\n');
    expect([ran(box, a), ran(box, b), ran(box, c)]).toEqual([true, true, true]);
  });

  it('takes sizes with units, in powers of 1024', ({ box }) => {
    const a = printer(box, 'a.sh', 'a', 1500);
    const b = printer(box, 'b.sh', 'b', 1500);
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', b.path], at('2024-08-27T10:00:00'));
    box.dcache(['gc', '--max-size', '2K'], at('2024-08-27T12:00:00'));
    expect([ran(box, a), ran(box, b)]).toEqual([false, true]);
    box.dcache(['gc', '--max-size', '1.5K'], at('2024-08-27T12:00:00'));
    expect([ran(box, a), ran(box, b)]).toEqual([false, true]);
  });

  it('exits 2 and names the option for a --max-size that is not a size', ({ box }) => {
    const r = box.dcache(['gc', '--max-size', 'big']);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe("dcache: --max-size 'big' is not a size; use a number and a unit: 500M, 5G, 1.5T (B for bytes)\n");
  });
});

describe('dcache gc --max-entries', () => {
  it('removes the least recently used entries, by last hit or recording, until at most that many are left', ({ box }) => {
    const a = printer(box, 'a.sh', 'a');
    const b = printer(box, 'b.sh', 'b');
    const c = printer(box, 'c.sh', 'c');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', b.path], at('2024-08-27T10:00:00'));
    box.dcache(['run', '--', c.path], at('2024-08-27T11:00:00'));
    // a hit makes the oldest recording the most recently used
    box.dcache(['run', '--', a.path], at('2024-08-27T12:00:00'));

    const first = box.dcache(['gc', '--max-entries', '2'], at('2024-08-27T12:30:00'));
    expect(first.code).toBe(0);
    expect(first.stdout.toString()).toMatch(/^freed [\d.]+ (?:B|KiB): 1 entry, 1 blob, 0 temp files\n$/);
    expect([ran(box, a), ran(box, b), ran(box, c)]).toEqual([true, false, true]);

    const none = box.dcache(['gc', '--max-entries', '2'], at('2024-08-27T12:30:00'));
    expect(none.stdout.toString()).toBe('freed 0 B: 0 entries, 0 blobs, 0 temp files\n');
    box.dcache(['gc', '--max-entries', '0'], at('2024-08-27T12:30:00'));
    expect(entries(box)).toEqual([]);
    expect(files(box, 'blobs')).toEqual([]);
  });

  it('applies with --max-size: what is left keeps to both, whichever is tighter', ({ box }) => {
    const scripts = ['a', 'b', 'c'].map((ch) => printer(box, `${ch}.sh`, ch));
    const record = () => scripts.forEach((script, i) => box.dcache(['run', '--', script.path], at(`2024-08-27T0${i + 1}:00:00`)));
    record();
    // 3000 bytes: the size allows two entries, the count one
    box.dcache(['gc', '--max-entries', '1', '--max-size', '2500B'], at('2024-08-27T12:00:00'));
    expect(scripts.map((script) => ran(box, script))).toEqual([false, false, true]);
    record();
    // the count allows two, the size one
    box.dcache(['gc', '--max-entries', '2', '--max-size', '1500B'], at('2024-08-27T12:00:00'));
    expect(scripts.map((script) => ran(box, script))).toEqual([false, false, true]);
  });

  it('exits 2 and names the option for a --max-entries that is not a whole number', ({ box }) => {
    for (const bad of ['-1', '1.5', 'many']) {
      const r = box.dcache(['gc', '--max-entries', bad]);
      expect(r.code).toBe(2);
      expect(r.stdout.toString()).toBe('');
      expect(plain(r.stderr)).toBe(`dcache: --max-entries '${bad}' is not a number of entries; use a whole number, e.g. --max-entries 1000\n`);
    }
  });
});

describe('the automatic clean-up after a miss', () => {
  const limit = { DCACHE_MAX_SIZE: '2500B' };
  const stamp = (box: Sandbox) => join(box.cacheDir, 'gc-stamp');

  it('removes the least recently used entries until the cache is under DCACHE_MAX_SIZE', ({ box }) => {
    const scripts = ['a', 'b', 'c'].map((ch) => printer(box, `${ch}.sh`, ch));
    scripts.forEach((s, i) => box.dcache(['run', '--', s.path], at(`2024-08-27T0${i + 7}:00:00`, limit)));
    expect(entries(box)).toHaveLength(3);
    utimesSync(stamp(box), TWO_HOURS_AGO(), TWO_HOURS_AGO());
    const d = printer(box, 'd.sh', 'd');
    const r = box.dcache(['run', '--', d.path], at('2024-08-27T12:00:00', limit));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('d'.repeat(1000));
    expect(r.stderr).toBe('');
    expect(scripts.map((s) => ran(box, s))).toEqual([false, false, true]);
    expect(ran(box, d)).toBe(true);
  });

  it('runs at most once an hour: a second miss within the hour leaves the cache over the limit', ({ box }) => {
    const scripts = ['a', 'b', 'c', 'd'].map((ch) => printer(box, `${ch}.sh`, ch));
    scripts.forEach((s, i) => box.dcache(['run', '--', s.path], at(`2024-08-27T0${i + 6}:00:00`, limit)));
    expect(existsSync(stamp(box))).toBe(true);
    expect(entries(box)).toHaveLength(4);
  });

  it('keeps to the default limit of 10 GiB when DCACHE_MAX_SIZE is not set', ({ box }) => {
    const scripts = ['a', 'b', 'c'].map((ch) => printer(box, `${ch}.sh`, ch));
    for (const s of scripts) {
      box.dcache(['run', '--', s.path]);
      utimesSync(stamp(box), TWO_HOURS_AGO(), TWO_HOURS_AGO());
    }
    expect(entries(box)).toHaveLength(3);
  });

  it('never runs on a hit', ({ box }) => {
    const scripts = ['a', 'b', 'c', 'd'].map((ch) => printer(box, `${ch}.sh`, ch));
    scripts.forEach((s, i) => box.dcache(['run', '--', s.path], at(`2024-08-27T0${i + 6}:00:00`, limit)));
    utimesSync(stamp(box), TWO_HOURS_AGO(), TWO_HOURS_AGO());
    const before = statSync(stamp(box)).mtimeMs;
    const hit = box.dcache(['run', '--', scripts[3]!.path], at('2024-08-27T12:00:00', limit));
    expect(hit.stdout.toString()).toBe('d'.repeat(1000));
    expect(scripts[3]!.runs()).toBe(1);
    expect(entries(box)).toHaveLength(4);
    expect(statSync(stamp(box)).mtimeMs).toBe(before);
  });

  it('warns once about a DCACHE_MAX_SIZE that is not a size, naming the variable, and runs with the default', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data; exit 0');
    const r = box.dcache(['run', '--', fetch.path], { env: { DCACHE_MAX_SIZE: 'lots' } });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('data\n');
    expect(plain(r.stderr)).toBe("dcache: DCACHE_MAX_SIZE: 'lots' is not a size; use a number and a unit: 500M, 5G, 1.5T (B for bytes); ignored\n");
    expect(fetch.runs()).toBe(1);
  });
});

describe('gc while other processes record', () => {
  it('lets a recording in progress publish a complete entry when gc --max-size 1 runs meanwhile', async ({ box }) => {
    const slow = gated(box, 'slow.sh', 'echo first', 'echo second');
    const recording = startDcache(box, ['run', '--', slow.path]);
    await waitUntil('the slow command starts', () => slow.runs() === 1);
    const gc = whileFrozen(recording.child, () => box.dcache(['gc', '--max-size', '1B']));
    slow.open();
    expect(gc.code).toBe(0);
    const recorded = await recording.done;
    expect(recorded.code).toBe(0);
    expect(recorded.stdout.toString()).toBe('first\nsecond\n');
    const hit = box.dcache(['run', '--', slow.path]);
    expect(slow.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(hit.stdout.toString()).toBe('first\nsecond\n');
    expect(hit.stderr).toBe('');
  });

  it('lets a recording in progress publish a complete entry when clear --all runs meanwhile', async ({ box }) => {
    box.dcache(['run', '--', 'echo', 'other']);
    const slow = gated(box, 'slow.sh', 'echo first', 'echo second >&2');
    const recording = startDcache(box, ['run', '--', slow.path]);
    await waitUntil('the slow command starts', () => slow.runs() === 1);
    const clear = whileFrozen(recording.child, () => box.dcache(['clear', '--all']));
    slow.open();
    expect(clear.stdout.toString()).toMatch(/^removed 1 entry, /);
    expect((await recording.done).code).toBe(0);
    const hit = box.shell(`$DCACHE run -- '${slow.path}' 2>&1`);
    expect(slow.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('first\nsecond\n');
  });

  it('keeps the bytes a recording shares with an entry that gc evicts while the command runs', async ({ box }) => {
    // Same stdout bytes as the slow recording: one blob for both.
    box.dcache(['run', '-p', 'ttl:1m', '--', 'printf', 'first\\nsecond\\n'], at('2024-01-01T09:00:00'));
    const slow = gated(box, 'slow.sh', 'echo first', 'echo second');
    const recording = startDcache(box, ['run', '--', slow.path]);
    await waitUntil('the slow command starts', () => slow.runs() === 1);
    const gc = whileFrozen(recording.child, () => box.dcache(['gc', '--max-age', '1h']));
    slow.open();
    expect(gc.stdout.toString()).toMatch(/^freed \d+ B: 1 entry, 1 blob, 0 temp files\n$/);
    expect((await recording.done).stdout.toString()).toBe('first\nsecond\n');
    const hit = box.dcache(['run', '--', slow.path]);
    expect(slow.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('first\nsecond\n');
    expect(hit.stderr).toBe('');
  });

  it('keeps a blob a recording found already stored when gc evicts its only entry before the recording is published', async ({ box }) => {
    // An old, long-stale entry whose stdout has the bytes of the file the
    // recording captures first.
    box.dcache(['run', '-p', 'ttl:1m', '--', 'printf', 'shared bytes\\n'], at('2024-01-01T09:00:00'));
    // The command writes report.txt, then many small files in shards/:
    // outputs are captured in the order of their names, so capturing the
    // small files (each synced to disk) keeps the recording busy after
    // report.txt's blob was found already stored and its own copy set aside.
    const make = box.counter(
      'make.sh',
      "printf 'shared bytes\\n' > report.txt; mkdir -p shards; i=0; while [ $i -lt 500 ]; do echo \"part $i\" > shards/$i; i=$((i+1)); done",
    );
    const args = ['run', '-o', 'report.txt', '-o', 'shards', '--', make.path];
    const tmp = join(box.cacheDir, 'tmp');
    const setAside = () => tempHolding(tmp, 'shared bytes\n') !== undefined;
    // Each output is captured through a temp file in tmp: the first temp
    // file after report.txt's copy is that of shards/0, so report.txt's copy
    // has by then been set aside. inotify tells this test of it at once, and
    // it stops dcache there, rather than polling for the moment.
    const watcher = watch(tmp);
    const recording = startDcache(box, args);
    try {
      await new Promise<void>((resolve, reject) => {
        watcher.on('change', (_event, name) => {
          const copy = tempHolding(tmp, 'shared bytes\n');
          if (copy === undefined || name === copy) return;
          recording.child.kill('SIGSTOP');
          resolve();
        });
        void recording.done.then(() => reject(new Error('the recording ended before report.txt was set aside')));
      });
    } finally {
      watcher.close();
    }
    // Frozen between storing its blobs and publishing its manifest, the
    // recording is exactly what a gc must not break.
    const gc = whileFrozen(recording.child, () => {
      expect(setAside()).toBe(true);
      return box.dcache(['gc', '--max-age', '1h']);
    });
    expect(gc.stdout.toString()).toMatch(/^freed \d+ B: 1 entry, 1 blob, 0 temp files\n$/);
    expect((await recording.done).code).toBe(0);
    rmSync(box.path('report.txt'));
    rmSync(box.path('shards'), { recursive: true });
    const hit = box.dcache(['run', '-v', ...args.slice(1)]);
    expect(make.runs()).toBe(1);
    expect(plain(hit.stderr)).toMatch(/^dcache: hit/);
    expect(readFileSync(box.path('report.txt'), 'utf8')).toBe('shared bytes\n');
    expect(readFileSync(box.path('shards', '499'), 'utf8')).toBe('part 499\n');
  });

  it('lets a hit in progress replay in full while gc --max-size 1 evicts its entry', async ({ box }) => {
    const big = box.counter('big.sh', 'head -c 30000000 /dev/zero | tr "\\0" "z"');
    box.dcache(['run', '--', big.path]);
    const replaying = startDcache(box, ['run', '--', big.path]);
    // the replay has begun once the first bytes arrive
    await replaying.stdoutReaches(1);
    const gc = box.dcache(['gc', '--max-size', '1B']);
    expect(gc.stdout.toString()).toMatch(/: 1 entry, 1 blob, /);
    const replayed = await replaying.done;
    expect(replayed.code).toBe(0);
    expect(replayed.stdout.length).toBe(30_000_000);
    expect(replayed.stderr).toBe('');
    expect(big.runs()).toBe(1);
  });
});
