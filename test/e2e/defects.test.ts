
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';

// Defects found by running dcache from outside (a port of bkt's CLI tests,
// an adversarial run, a new user's first hour), each kept as a test. The
// numbers are the items of the issue that listed them.

const lines = (stderr: string) => plain(stderr).split('\n').filter(Boolean);

describe('1. a recorded failure', () => {
  it('is not replayed to a call that does not cache failures', ({ box }) => {
    const args = ['run', '--', 'bash', '-c', 'exit "${EXIT_WITH:?}"'];
    const failed = box.dcache(['run', '--cache-failures', ...args.slice(1)], { env: { EXIT_WITH: '14' } });
    expect(failed.code).toBe(14);
    const ran = box.dcache(['run', '-v', ...args.slice(1)], { env: { EXIT_WITH: '0' } });
    expect(ran.code).toBe(0);
    expect(lines(ran.stderr)).toEqual([
      'dcache: miss (the entry is a recorded failure (exit 14), replayed only with --cache-failures); running bash -c \'exit "${EXIT_WITH:?}"\'',
      expect.stringMatching(/^dcache: recorded 0 B in .*, fresh until /),
    ]);
  });

  it('is still replayed to a call that caches failures', ({ box }) => {
    const script = box.counter('fail.sh', 'echo broken; exit 14');
    box.dcache(['run', '--cache-failures', '--', script.path]);
    const hit = box.dcache(['run', '--cache-failures', '--', script.path]);
    expect(hit.code).toBe(14);
    expect(hit.stdout.toString()).toBe('broken\n');
    expect(script.runs()).toBe(1);
  });
});

describe('2. arguments that are not UTF-8', () => {
  // Raw bytes go through printf in /bin/sh: Node would encode them as UTF-8.
  it('are refused with 125, naming the argument, and the command never runs', ({ box }) => {
    const r = box.shell(`$DCACHE run -- sh -c 'echo ran > ran' "$(printf 'x\\377')"`);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toEqual(["dcache: argument 6 ($'x\\xff') is not valid UTF-8: dcache cannot pass it on, or key it, exactly as given"]);
    expect(existsSync(box.path('ran'))).toBe(false);
    expect(existsSync(join(box.cacheDir, 'entries'))).toBe(false);
  });

  it('are refused in dcache’s own options too', ({ box }) => {
    const r = box.shell(`$DCACHE run -o "$(printf 'f\\376')" -- true`);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toEqual(["dcache: argument 3 ($'f\\xfe') is not valid UTF-8: dcache cannot pass it on, or key it, exactly as given"]);
  });

  it('do not stop a real U+FFFD, which is valid UTF-8', ({ box }) => {
    const r = box.shell(`$DCACHE run -- printf %s "$(printf '\\357\\277\\275')" | od -An -tx1`);
    expect(r.code).toBe(0);
    expect(r.stdout.toString().trim()).toBe('ef bf bd');
  });
});

describe('3. a hit while the cache is cleared', () => {
  it('replays in full when clear --all runs while its output file is being restored', async ({ box }) => {
    const script = box.counter('make.sh', 'head -c 67108864 /dev/zero > big.bin; echo done');
    box.dcache(['run', '-o', 'big.bin', '--', script.path]);
    rmSync(box.path('big.bin'));
    // Stopped as soon as the restore's temp file appears, the hit waits
    // while every entry and blob is removed.
    const hit = startDcache(box, ['run', '-o', 'big.bin', '--', script.path]);
    const stopped = new Promise<void>((resolve) => {
      const watcher = watch(box.root, (_event, name) => {
        if (name?.startsWith('.big.bin.dcache-')) {
          hit.child.kill('SIGSTOP');
          watcher.close();
          resolve();
        }
      });
    });
    await stopped;
    const cleared = box.dcache(['clear', '--all']);
    expect(cleared.code).toBe(0);
    expect(readdirSync(join(box.cacheDir, 'blobs')).flatMap((shard) => readdirSync(join(box.cacheDir, 'blobs', shard)))).toEqual([]);
    hit.child.kill('SIGCONT');
    const replayed = await hit.done;
    expect(replayed.code).toBe(0);
    expect(replayed.stderr).toBe('');
    expect(replayed.stdout.toString()).toBe('done\n');
    expect(readFileSync(box.path('big.bin')).length).toBe(67_108_864);
    expect(script.runs()).toBe(1);
  });
});

describe('4. a cache directory whose subdirectory is a symlink', () => {
  function linkedTmp(box: Sandbox): string {
    box.dcache(['run', '--', 'echo', 'seed']);
    const outside = box.path('outside');
    mkdirSync(outside);
    const precious = join(outside, 'precious.txt');
    writeFileSync(precious, 'keep me\n');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    utimesSync(precious, old, old);
    rmSync(join(box.cacheDir, 'tmp'), { recursive: true });
    symlinkSync(outside, join(box.cacheDir, 'tmp'));
    return precious;
  }

  it('is refused by gc, which deletes nothing through it', ({ box }) => {
    const precious = linkedTmp(box);
    const r = box.dcache(['gc']);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `dcache: cannot use the cache directory ${box.cacheDir}: ${join(box.cacheDir, 'tmp')} is a symlink, and dcache follows no link inside its cache directory; remove it`,
    ]);
    expect(readFileSync(precious, 'utf8')).toBe('keep me\n');
  });

  it('is refused by run, which runs the command uncached with one warning', ({ box }) => {
    const precious = linkedTmp(box);
    const r = box.dcache(['run', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(lines(r.stderr)).toEqual([
      `dcache: cannot use the cache directory ${box.cacheDir} (${join(box.cacheDir, 'tmp')} is a symlink, and dcache follows no link inside its cache directory; remove it); running without the cache`,
    ]);
    expect(readdirSync(box.path('outside'))).toEqual(['precious.txt']);
    expect(existsSync(precious)).toBe(true);
  });
});

describe('5. DCACHE_NOW before 1970', () => {
  it('is refused with 125 before anything runs', ({ box }) => {
    const r = box.dcache(['run', '--', 'sh', '-c', 'echo ran > ran'], { env: { DCACHE_NOW: '1969-12-31T23:00:00Z' } });
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toEqual([
      "dcache: DCACHE_NOW: '1969-12-31T23:00:00Z' is before 1970-01-01T00:00:00Z; use a time from then on",
    ]);
    expect(existsSync(box.path('ran'))).toBe(false);
  });
});

describe('6. a --watch-cmd probe that fails', () => {
  it('counts as could-not-check: the command runs every time, and dcache says why, with the probe’s exit code and first stderr line', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', 'echo "no credentials found" >&2; exit 2', '--', fetch.path];
    box.dcache(args);
    const again = box.dcache(args);
    expect(fetch.runs()).toBe(2);
    expect(again.stdout.toString()).toBe('data\n');
    expect(lines(again.stderr)).toEqual([
      `dcache: cannot check a watched source, so it counts as changed: --watch-cmd 'echo "no credentials found" >&2; exit 2' exited with 2: no credentials found`,
    ]);
  });
});

describe('7. a watched path that matches nothing', () => {
  it('is warned about, naming it', ({ box }) => {
    const r = box.dcache(['run', '-w', 'data/inptu.csv', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(lines(r.stderr)).toEqual(["dcache: --watch 'data/inptu.csv' matches no file (yet); dcache watches for one to appear"]);
  });

  it('is warned about for a glob too', ({ box }) => {
    const r = box.dcache(['run', '-w', 'in/*.cvs', '--', 'echo', 'hi']);
    expect(lines(r.stderr)).toEqual(["dcache: --watch 'in/*.cvs' matches no file (yet); dcache watches for one to appear"]);
  });
});

describe('8. ls, show and clear --stale', () => {
  // Recorded at 05:30 in New York (11:30 in Paris, the sandbox's TZ), with
  // days that start at 06:00 in New York; asked at 07:00 New York time.
  const record = (box: Sandbox) =>
    box.dcache(['run', '--tz', 'America/New_York', '-p', 'daily@06:00', '--', 'echo', 'hi'], {
      env: { DCACHE_NOW: '2026-03-02T05:30:00-05:00' },
    });
  const at = { env: { DCACHE_NOW: '2026-03-02T07:00:00-05:00' } };

  it('judge an entry in the zone it was recorded with', ({ box }) => {
    record(box);
    expect(plain(box.dcache(['ls'], at).stdout.toString())).toMatch(/ stale /);
    const [entry] = (JSON.parse(box.dcache(['ls', '--json'], at).stdout.toString()) as { entries: Array<{ key: string; fresh: boolean }> }).entries;
    expect(entry!.fresh).toBe(false);
    // and shows its times there, with the offset, in the sandbox's Paris
    expect(plain(box.dcache(['show', entry!.key], at).stdout.toString())).toMatch(/^state +stale since 2026-03-02 06:00:00 -05:00$/m);
    expect(box.dcache(['clear', '--stale'], at).stdout.toString()).toMatch(/^removed 1 entry/);
  });

  it('judge it fresh before the boundary of its own zone', ({ box }) => {
    record(box);
    const before = { env: { DCACHE_NOW: '2026-03-02T05:45:00-05:00' } };
    expect(plain(box.dcache(['ls'], before).stdout.toString())).toMatch(/ fresh until /);
  });
});

describe('9. a size without a unit', () => {
  it('is refused by gc --max-size, which removes nothing', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'hi']);
    const r = box.dcache(['gc', '--max-size', '500']);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual(["dcache: --max-size '500' is not a size; use a number and a unit: 500M, 5G, 1.5T (B for bytes)"]);
    expect(box.dcache(['run', '-v', '--', 'echo', 'hi']).stderr).toMatch(/hit/);
  });

  it('is taken with B as bytes', ({ box }) => {
    expect(box.dcache(['gc', '--max-size', '500B']).code).toBe(0);
  });
});

describe('10. a cache directory that is a file', () => {
  for (const command of [['ls'], ['stats'], ['gc'], ['clear', '--all'], ['show', 'abc']]) {
    it(`stops dcache ${command[0]} with 2 and one line naming the path`, ({ box }) => {
      writeFileSync(box.path('not-a-dir'), '');
      const r = box.dcache(command, { env: { DCACHE_DIR: box.path('not-a-dir') } });
      expect(r.code).toBe(2);
      expect(r.stdout.toString()).toBe('');
      expect(lines(r.stderr)).toEqual([`dcache: the cache directory ${box.path('not-a-dir')} is not a directory`]);
    });
  }

  it('does not stop run, which runs the command uncached', ({ box }) => {
    writeFileSync(box.path('not-a-dir'), '');
    const r = box.dcache(['run', '--', 'echo', 'hi'], { env: { DCACHE_DIR: box.path('not-a-dir') } });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
  });
});

describe('11. settings from the environment that only tune the cache', () => {
  it('are warned about once and ignored by run, which runs the command', ({ box }) => {
    const r = box.dcache(['run', '--', 'echo', 'hi'], { env: { DCACHE_MAX_SIZE: 'lots', DCACHE_REMOTE: 'ftp://cache' } });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(lines(r.stderr)).toEqual([
      "dcache: DCACHE_REMOTE: 'ftp://cache': use a redis://, rediss://, http://, https://, file://, s3://, gs:// or az:// URL; ignored",
      "dcache: DCACHE_MAX_SIZE: 'lots' is not a size; use a number and a unit: 500M, 5G, 1.5T (B for bytes); ignored",
    ]);
  });

  it('do not break ls or stats, which use neither', ({ box }) => {
    for (const command of [['ls'], ['stats']]) {
      const r = box.dcache(command, { env: { DCACHE_MAX_SIZE: 'lots', DCACHE_REMOTE: 'ftp://cache' } });
      expect(r.code).toBe(0);
      expect(r.stderr).not.toMatch(/DCACHE_/);
    }
  });

  it('include an unknown TZ, which is warned about', ({ box }) => {
    const r = box.dcache(['run', '--', 'echo', 'hi'], { env: { TZ: 'Nowhere/Land' } });
    expect(r.code).toBe(0);
    expect(lines(r.stderr)).toEqual(["dcache: TZ 'Nowhere/Land' is not a time zone dcache knows; calendar policies use UTC"]);
  });

  it('do not include a bad flag, which stays a usage error', ({ box }) => {
    const r = box.dcache(['run', '--remote', 'ftp://cache', '--', 'echo', 'hi']);
    expect(r.code).toBe(125);
    expect(r.stdout.toString()).toBe('');
  });
});

describe('12. with -q', () => {
  it('a declared output that is missing is still reported, once', ({ box }) => {
    const r = box.dcache(['run', '-q', '-o', 'missing.csv', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(lines(r.stderr)).toEqual(["dcache: declared output 'missing.csv' does not exist after the run; nothing was recorded"]);
  });

  it('a cache directory that cannot be used is still reported, once', ({ box }) => {
    writeFileSync(box.path('not-a-dir'), '');
    const r = box.dcache(['run', '-q', '--', 'echo', 'hi'], { env: { DCACHE_DIR: box.path('not-a-dir') } });
    expect(r.code).toBe(0);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(lines(r.stderr)[0]).toMatch(/^dcache: cannot use the cache directory .*not-a-dir/);
  });
});

describe('13. control characters in a command line', () => {
  const nasty = 'line one\nline two\u001b[31mred\u001b[0m';

  it('are escaped in ls and show', ({ box }) => {
    box.dcache(['run', '--key', nasty, '--', 'printf', '%s', nasty]);
    const listed = box.dcache(['ls']).stdout.toString();
    expect(listed).not.toContain('\u001b');
    expect(listed.trimEnd().split('\n')).toHaveLength(2);
    expect(listed).toContain("$'line one\\nline two\\e[31mred\\e[0m'");
    const [entry] = (JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ key: string }> }).entries;
    const shown = box.dcache(['show', entry!.key]).stdout.toString();
    expect(shown).not.toContain('\u001b');
    expect(shown).toMatch(/^key text +"line one\\nline two\\u001b\[31mred\\u001b\[0m"$/m);
  });

  it('are escaped in dcache’s own messages', ({ box }) => {
    const r = box.dcache(['run', '-v', '--', 'printf', '%s', nasty]);
    expect(plain(r.stderr)).not.toContain('\u001b[31m');
    expect(r.stderr.split('\n').filter(Boolean).every((line) => plain(line).startsWith('dcache: ') || line === '')).toBe(true);
  });
});
