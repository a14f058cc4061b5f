import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from '../support/fixture.js';
import { beforeRecordedLine, expectOneLineRefusal, plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// Watched local paths and --watch-cmd probes end to end: an entry recorded
// with `-p forever` stays until its source changes.

const at = (now: string) => ({ env: { DCACHE_NOW: now } });

describe('--watch on a file', () => {
  it('replays after a touch that changes the mtime but not the content', ({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const report = box.counter('report.sh', 'cat data.csv');
    const args = ['run', '-p', 'forever', '-w', 'data.csv', '--', report.path];
    box.dcache(args);
    const touched = box.shell("touch -d '2031-01-01 00:00:00' data.csv");
    expect(touched.code).toBe(0);
    const hit = box.dcache(args);
    expect(report.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(hit.stdout.toString()).toBe('acme,42\n');
    expect(hit.stderr).toBe('');
  });

  it('runs again after a rewrite of the same size with different content', ({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const report = box.counter('report.sh', 'cat data.csv');
    const args = ['run', '-p', 'forever', '-w', 'data.csv', '--', report.path];
    box.dcache(args);
    const { mtimeMs } = statSync(box.path('data.csv'));
    writeFileSync(box.path('data.csv'), 'acme,43\n');
    // a clock with a coarse resolution could leave the mtime as it was
    utimesSync(box.path('data.csv'), new Date(), new Date(mtimeMs + 2000));
    const r = box.dcache(args);
    expect(report.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('acme,43\n');
    expect(r.stderr).toBe('');
  });

  it('runs again when the file grows', ({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const report = box.counter('report.sh', 'cat data.csv');
    const args = ['run', '-p', 'forever', '-w', 'data.csv', '--', report.path];
    box.dcache(args);
    appendFileSync(box.path('data.csv'), 'globex,7\n');
    const r = box.dcache(args);
    expect(report.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('acme,42\nglobex,7\n');
  });

  it('says which watched file changed with -v', ({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const report = box.counter('report.sh', 'cat data.csv');
    box.dcache(['run', '-p', 'forever', '-w', 'data.csv', '--', report.path]);
    writeFileSync(box.path('data.csv'), 'acme,42,extra\n');
    const r = box.dcache(['run', '-v', '-p', 'forever', '-w', 'data.csv', '--', report.path]);
    expect(beforeRecordedLine(r.stderr)).toMatch(/^dcache: miss \(data\.csv changed\); running .*report\.sh\n$/);
  });

  it('runs again once a missing watched file appears, then replays', ({ box }) => {
    const report = box.counter('report.sh', 'cat data.csv 2>/dev/null || echo "no data yet"');
    const args = ['run', '-p', 'forever', '-w', 'data.csv', '--', report.path];
    const before = box.dcache(args);
    const stillMissing = box.dcache(args);
    expect(report.runs()).toBe(1);
    expect(stillMissing.stdout.toString()).toBe('no data yet\n');
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const appeared = box.dcache(args);
    const hit = box.dcache(args);
    expect(report.runs()).toBe(2);
    expect(before.stdout.toString()).toBe('no data yet\n');
    expect(appeared.stdout.toString()).toBe('acme,42\n');
    expect(hit.stdout.toString()).toBe('acme,42\n');
  });

  it('runs again when the watched file disappears', ({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const report = box.counter('report.sh', 'cat data.csv 2>/dev/null || echo "no data"');
    const args = ['run', '-p', 'forever', '-w', 'data.csv', '--', report.path];
    box.dcache(args);
    rmSync(box.path('data.csv'));
    const r = box.dcache(args);
    expect(report.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('no data\n');
  });

  it('fingerprints the source before the run, so a command that changes it runs every time', ({ box }) => {
    writeFileSync(box.path('log.txt'), '');
    const step = box.counter('step.sh', 'echo step >> log.txt; echo done');
    const args = ['run', '-p', 'forever', '-w', 'log.txt', '--', step.path];
    box.dcache(args);
    box.dcache(args);
    expect(step.runs()).toBe(2);
  });

  it('still applies the policy to a watched file that did not change', ({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const report = box.counter('report.sh', 'cat data.csv');
    const args = ['run', '-p', 'daily', '-w', 'data.csv', '--', report.path];
    box.dcache(args, at('2024-08-27T09:00:00'));
    box.dcache(args, at('2024-08-27T18:00:00'));
    expect(report.runs()).toBe(1);
    box.dcache(args, at('2024-08-28T09:00:00'));
    expect(report.runs()).toBe(2);
  });
});

describe('--watch on a symlink', () => {
  // A common layout: latest.csv points at the newest export, which is
  // rewritten in place. The link itself (its lstat) does not change.
  it('runs again when the file a watched symlink points to is rewritten', ({ box }) => {
    mkdirSync(box.path('exports'));
    writeFileSync(box.path('exports', '2024-08-27.csv'), 'acme,42\n');
    symlinkSync('exports/2024-08-27.csv', box.path('latest.csv'));
    const report = box.counter('report.sh', 'cat latest.csv');
    const args = ['run', '-p', 'forever', '-w', 'latest.csv', '--', report.path];
    box.dcache(args);
    writeFileSync(box.path('exports', '2024-08-27.csv'), 'acme,42\nglobex,7\n');
    const r = box.dcache(args);
    expect(report.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('acme,42\nglobex,7\n');
  });

  it('runs again when a symlinked file matched by a glob is rewritten', ({ box }) => {
    mkdirSync(box.path('exports'));
    mkdirSync(box.path('in'));
    writeFileSync(box.path('exports', 'a.csv'), 'a\n');
    symlinkSync('../exports/a.csv', box.path('in', 'a.csv'));
    const merge = box.counter('merge.sh', 'cat in/*.csv');
    const args = ['run', '-p', 'forever', '-w', 'in/*.csv', '--', merge.path];
    box.dcache(args);
    writeFileSync(box.path('exports', 'a.csv'), 'a, rewritten and longer\n');
    const r = box.dcache(args);
    expect(merge.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('a, rewritten and longer\n');
  });

  it('replays a watched directory that holds a symlink to another directory', ({ box }) => {
    mkdirSync(box.path('in'));
    mkdirSync(box.path('shared'));
    writeFileSync(box.path('in', 'a.csv'), 'a\n');
    writeFileSync(box.path('shared', 'b.csv'), 'b\n');
    symlinkSync('../shared', box.path('in', 'shared'));
    const list = box.counter('list.sh', 'echo listed');
    const args = ['run', '-v', '-p', 'forever', '-w', 'in', '--', list.path];
    box.dcache(args);
    const r = box.dcache(args);
    expect(list.runs()).toBe(1);
    expect(plain(r.stderr)).toMatch(/^dcache: hit: /);
  });
});

describe('--watch on a glob', () => {
  it('runs again when a new file matches the glob', ({ box }) => {
    mkdirSync(box.path('in'));
    writeFileSync(box.path('in', 'a.csv'), 'a\n');
    const merge = box.counter('merge.sh', 'cat in/*.csv');
    const args = ['run', '-p', 'forever', '-w', 'in/*.csv', '--', merge.path];
    box.dcache(args);
    box.dcache(args);
    expect(merge.runs()).toBe(1);
    writeFileSync(box.path('in', 'b.csv'), 'b\n');
    const r = box.dcache(args);
    expect(merge.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('a\nb\n');
  });

  it('runs again when a glob that matched nothing matches a file', ({ box }) => {
    mkdirSync(box.path('in'));
    const merge = box.counter('merge.sh', 'cat in/*.csv 2>/dev/null; echo end');
    const args = ['run', '-p', 'forever', '-w', 'in/*.csv', '--', merge.path];
    box.dcache(args);
    box.dcache(args);
    expect(merge.runs()).toBe(1);
    writeFileSync(box.path('in', 'a.csv'), 'a\n');
    const r = box.dcache(args);
    expect(merge.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('a\nend\n');
  });

  it('ignores a new file that does not match the glob', ({ box }) => {
    mkdirSync(box.path('in'));
    writeFileSync(box.path('in', 'a.csv'), 'a\n');
    const merge = box.counter('merge.sh', 'cat in/*.csv');
    const args = ['run', '-p', 'forever', '-w', 'in/*.csv', '--', merge.path];
    box.dcache(args);
    writeFileSync(box.path('in', 'notes.txt'), 'not data\n');
    const hit = box.dcache(args);
    expect(merge.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('a\n');
  });

  it('runs again when a matching file is removed', ({ box }) => {
    mkdirSync(box.path('in'));
    writeFileSync(box.path('in', 'a.csv'), 'a\n');
    writeFileSync(box.path('in', 'b.csv'), 'b\n');
    const merge = box.counter('merge.sh', 'cat in/*.csv');
    const args = ['run', '-p', 'forever', '-w', 'in/*.csv', '--', merge.path];
    box.dcache(args);
    rmSync(box.path('in', 'b.csv'));
    const r = box.dcache(args);
    expect(merge.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('a\n');
  });
});

describe('--watch on a directory', () => {
  it('replays while nothing under the directory changes', ({ box }) => {
    mkdirSync(box.path('in', 'sub'), { recursive: true });
    writeFileSync(box.path('in', 'a.csv'), 'a\n');
    writeFileSync(box.path('in', 'sub', 'b.csv'), 'b\n');
    const list = box.counter('list.sh', 'find in -type f | sort');
    const args = ['run', '-p', 'forever', '-w', 'in', '--', list.path];
    box.dcache(args);
    const hit = box.dcache(args);
    expect(list.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('in/a.csv\nin/sub/b.csv\n');
  });

  it('runs again when a file appears in a subdirectory', ({ box }) => {
    mkdirSync(box.path('in', 'sub'), { recursive: true });
    writeFileSync(box.path('in', 'a.csv'), 'a\n');
    const list = box.counter('list.sh', 'find in -type f | sort');
    const args = ['run', '-p', 'forever', '-w', 'in', '--', list.path];
    box.dcache(args);
    writeFileSync(box.path('in', 'sub', 'new.csv'), 'new\n');
    const r = box.dcache(args);
    expect(list.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('in/a.csv\nin/sub/new.csv\n');
  });

  it('runs again when a file under it changes', ({ box }) => {
    mkdirSync(box.path('in', 'sub'), { recursive: true });
    writeFileSync(box.path('in', 'sub', 'b.csv'), 'b\n');
    const cat = box.counter('cat.sh', 'cat in/sub/b.csv');
    const args = ['run', '-p', 'forever', '-w', 'in', '--', cat.path];
    box.dcache(args);
    writeFileSync(box.path('in', 'sub', 'b.csv'), 'B, much longer now\n');
    const r = box.dcache(args);
    expect(cat.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('B, much longer now\n');
  });
});

describe('--watch-cmd', () => {
  it('replays while the probe prints the same thing', ({ box }) => {
    writeFileSync(box.path('version'), 'v1\n');
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', 'cat version', '--', fetch.path];
    box.dcache(args);
    const hit = box.dcache(args);
    expect(fetch.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(hit.stdout.toString()).toBe('data\n');
    expect(hit.stderr).toBe('');
  });

  it('runs again when the probe prints something else', ({ box }) => {
    writeFileSync(box.path('version'), 'v1\n');
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', 'cat version', '--', fetch.path];
    box.dcache(args);
    writeFileSync(box.path('version'), 'v2\n');
    const r = box.dcache(args);
    expect(fetch.runs()).toBe(2);
    const hit = box.dcache(args);
    expect(fetch.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('data\n');
    expect(hit.stdout.toString()).toBe('data\n');
  });

  it('runs again when a probe that prints a condition sees it change', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', 'test -e ready && echo ready || echo waiting', '--', fetch.path];
    box.dcache(args);
    box.dcache(args);
    expect(fetch.runs()).toBe(1);
    writeFileSync(box.path('ready'), '');
    box.dcache(args);
    expect(fetch.runs()).toBe(2);
  });

  it('runs every time, and says why, while the probe exits non-zero', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', 'test -e ready', '--', fetch.path];
    box.dcache(args);
    const again = box.dcache(args);
    expect(fetch.runs()).toBe(2);
    expect(plain(again.stderr)).toBe("dcache: cannot check a watched source, so it counts as changed: --watch-cmd 'test -e ready' exited with 1\n");
  });

  it('counts a probe that outlives --watch-timeout as changed', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const probe = 'if [ -e hang ]; then sleep 30; fi; echo v1';
    const args = ['run', '-v', '-p', 'forever', '--watch-timeout', '1s', '--watch-cmd', probe, '--', fetch.path];
    box.dcache(args);
    writeFileSync(box.path('hang'), '');
    const r = box.dcache(args);
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('data\n');
    expect(beforeRecordedLine(r.stderr)).toBe(
      `dcache: cannot check a watched source, so it counts as changed: --watch-cmd '${probe}' did not finish within 1 s\n` +
        `dcache: miss (${probe} could not be checked: --watch-cmd '${probe}' did not finish within 1 s); running ${fetch.path}\n`,
    );
  });

  it('kills what a timed-out probe started', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const probe = 'sleep 30 & echo $! > sleeper.pid; wait';
    box.dcache(['run', '-p', 'forever', '--watch-timeout', '1s', '--watch-cmd', probe, '--', fetch.path]);
    const pid = readFileSync(box.path('sleeper.pid'), 'utf8').trim();
    // SIGKILL lands asynchronously: wait (briefly) for the sleeper to be gone or a zombie.
    const gone = box.shell(
      `for i in $(seq 1 50); do s=$(cut -d' ' -f3 /proc/${pid}/stat 2>/dev/null) || exit 0; [ "$s" = Z ] && exit 0; sleep 0.05; done; exit 1`,
    );
    expect(gone.code).toBe(0);
  });

  it('does not show the probe\'s stderr', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', 'echo probe noise >&2; echo v1', '--', fetch.path];
    const miss = box.dcache(args);
    const hit = box.dcache(args);
    expect(fetch.runs()).toBe(1);
    expect(miss.stderr).toBe('');
    expect(hit.stderr).toBe('');
    expect(hit.stdout.toString()).toBe('data\n');
  });

  it('gives the probe no standard input', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', 'cat', '--', fetch.path];
    const r = box.dcache(args, { input: 'typed by the user\n' });
    expect(r.code).toBe(0);
    box.dcache(args, { input: 'something else\n' });
    expect(fetch.runs()).toBe(1);
  });
});

describe('probes and stale policies', () => {
  // The probe appends to probes.log each time it runs.
  const probe = 'echo probed >> probes.log; echo v1';
  const probes = (box: Sandbox) => (existsSync(box.path('probes.log')) ? readFileSync(box.path('probes.log'), 'utf8').split('\n').filter(Boolean).length : 0);

  it('runs the probe once per call: to record, or to check a fresh entry', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'ttl:1h', '--watch-cmd', probe, '--', fetch.path];
    box.dcache(args, at('2024-08-27T10:00:00'));
    expect(probes(box)).toBe(1);
    box.dcache(args, at('2024-08-27T10:30:00'));
    expect(fetch.runs()).toBe(1);
    expect(probes(box)).toBe(2);
  });

  it('does not probe to judge an entry the policy already calls stale, only to record the new run', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'ttl:1h', '--watch-cmd', probe, '--', fetch.path];
    box.dcache(args, at('2024-08-27T10:00:00'));
    expect(probes(box)).toBe(1);
    box.dcache(args, at('2024-08-27T12:00:00'));
    expect(fetch.runs()).toBe(2);
    expect(probes(box)).toBe(2);
  });

  it('does not probe at all in status when the policy is stale', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'ttl:1h', '--watch-cmd', probe, '--', fetch.path], at('2024-08-27T10:00:00'));
    const r = box.dcache(['status', '-p', 'ttl:1h', '--watch-cmd', probe, '--', fetch.path], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(1);
    expect(probes(box)).toBe(1);
    expect(fetch.runs()).toBe(1);
  });

  it('probes once for a changed source, not again to record the run', ({ box }) => {
    writeFileSync(box.path('version'), 'v1\n');
    const counted = 'echo probed >> probes.log; cat version';
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'forever', '--watch-cmd', counted, '--', fetch.path];
    box.dcache(args);
    writeFileSync(box.path('version'), 'v2\n');
    box.dcache(args);
    expect(fetch.runs()).toBe(2);
    expect(probes(box)).toBe(2);
  });
});

describe('bad watch options', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a --watch-timeout without a unit', ['--watch-timeout', '5', '--watch-cmd', 'true'], /--watch-timeout '5' is not a duration/],
    ['an empty --watch-cmd', ['--watch-cmd', ''], /--watch-cmd '' is empty/],
    ['a URL that is not http', ['-w', 'ftp://example.com/x.csv'], /--watch 'ftp:\/\/example\.com\/x\.csv': the URLs that can be watched are http\(s\):\/\/, s3:\/\/, gs:\/\/ and az:\/\//],
  ];
  for (const [what, options, message] of cases) {
    it(`exits 125 with one line naming ${what}`, ({ box }) => {
      const fetch = box.counter('fetch.sh', 'echo data');
      const r = box.dcache(['run', ...options, '--', fetch.path]);
      expectOneLineRefusal(r, 125, message);
      expect(fetch.runs()).toBe(0);
    });
  }
});
