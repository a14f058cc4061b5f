import { readFileSync, writeFileSync } from 'node:fs';
import { listFiles } from '../support/cache-files.js';
import { beforeEach, describe, expect, it } from '../support/fixture.js';
import { expectOneLineRefusal, plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// dcache status (would run replay?) and --explain (why?), end to end.

const at = (now: string, env: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: now, ...env } });

describe('dcache status', () => {
  it('exits 0 with one line when run would replay', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path], at('2024-08-27T09:00:00'));
    const r = box.dcache(['status', '--', fetch.path], at('2024-08-27T15:00:00'));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(
      'fresh: would replay the entry recorded 2024-08-27 09:00:00 +02:00, fresh until 2024-08-28 00:00:00 +02:00\n',
    );
    expect(r.stderr).toBe('');
    expect(fetch.runs()).toBe(1);
  });

  it('exits 1 with one line when there is no entry, and runs nothing', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const r = box.dcache(['status', '--', fetch.path]);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('would run: no entry\n');
    expect(r.stderr).toBe('');
    expect(fetch.runs()).toBe(0);
  });

  it('exits 1 with one line when the entry is stale', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path], at('2024-08-27T09:00:00'));
    const r = box.dcache(['status', '--', fetch.path], at('2024-08-28T09:00:00'));
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('would run: stale since 2024-08-28 00:00:00 +02:00, daily\n');
    expect(r.stderr).toBe('');
    expect(fetch.runs()).toBe(1);
  });

  it('exits 1 with one line when a watched source changed', ({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    const fetch = box.counter('fetch.sh', 'cat data.csv');
    box.dcache(['run', '-p', 'forever', '-w', 'data.csv', '--', fetch.path]);
    writeFileSync(box.path('data.csv'), 'acme,43,more\n');
    const r = box.dcache(['status', '-p', 'forever', '-w', 'data.csv', '--', fetch.path]);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('would run: data.csv changed\n');
    expect(r.stderr).toBe('');
    expect(fetch.runs()).toBe(1);
  });

  it('judges by the policies given to it, not those of the recording', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'daily', '--', fetch.path], at('2024-08-27T09:00:00'));
    const r = box.dcache(['status', '-p', 'ttl:1h', '--', fetch.path], at('2024-08-27T15:00:00'));
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('would run: stale since 2024-08-27 10:00:00 +02:00, ttl:1h\n');
  });

  it('exits 1 under --force', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path]);
    const r = box.dcache(['status', '--force', '--', fetch.path]);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('would run: --force\n');
    expect(fetch.runs()).toBe(1);
  });

  it('records nothing, so the next run still runs the command', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['status', '--', fetch.path]);
    box.dcache(['status', '--', fetch.path]);
    expect(fetch.runs()).toBe(0);
    const r = box.dcache(['run', '-v', '--', fetch.path]);
    expect(fetch.runs()).toBe(1);
    expect(plain(r.stderr)).toMatch(/^dcache: miss \(no entry\)/);
  });

  it('reads --stdin to select the entry, as run does', ({ box }) => {
    const sort = box.counter('sort.sh', 'sort');
    box.dcache(['run', '--stdin', '--', sort.path], { input: 'b\na\n' });
    const same = box.dcache(['status', '--stdin', '--', sort.path], { input: 'b\na\n' });
    const other = box.dcache(['status', '--stdin', '--', sort.path], { input: 'c\n' });
    expect([same.code, other.code]).toEqual([0, 1]);
    expect(sort.runs()).toBe(1);
  });

  const usage: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['an unknown policy', ['status', '-p', 'bogus', '--', 'true'], {}, /'bogus' is not a policy/],
    ['an unknown zone', ['status', '--tz', 'Nowhere/City', '--', 'true'], {}, /--tz 'Nowhere\/City' is not a time zone/],
    ['an unknown option', ['status', '--bogus', '--', 'true'], {}, /unknown option '--bogus'/],
    ['a garbled DCACHE_NOW', ['status', '--', 'true'], { DCACHE_NOW: 'tomorrow' }, /DCACHE_NOW: 'tomorrow' is not an ISO-8601 date-time/],
  ];
  for (const [what, args, env, message] of usage) {
    it(`exits 2 with one line naming ${what}`, ({ box }) => {
      const r = box.dcache(args, { env });
      expectOneLineRefusal(r, 2, message);
    });
  }
});

describe('dcache status --explain', () => {
  // Everything that can be part of a key, two policies and two sources.
  const SECRET = 'sekrit-token-value-4711';
  const options = [
    '-p', 'daily', '-p', 'ttl:2h',
    '-e', 'API_TOKEN', '-e', 'UNSET_VAR',
    '--stdin', '-o', 'out.csv', '--key', 'ns1',
    '-w', 'data.csv', '--watch-cmd', 'cat version',
  ];
  const env = { API_TOKEN: SECRET };
  let fetch: { path: string; runs: () => number };

  beforeEach(({ box }) => {
    writeFileSync(box.path('data.csv'), 'acme,42\n');
    writeFileSync(box.path('version'), 'v1\n');
    fetch = box.counter('fetch.sh', 'cat; echo "a,b" > out.csv');
    const r = box.dcache(['run', ...options, '--', fetch.path], { ...at('2024-08-27T09:00:00', env), input: 'query\n' });
    expect(r.code).toBe(0);
  });

  const explain = (box: Sandbox, now: string) =>
    box.dcache(['status', '--explain', ...options, '--', fetch.path], { ...at(now, env), input: 'query\n' });

  it('shows every part of the key, each policy, each source and the verdict on stdout, and exits 0 on a replay', ({ box }) => {
    const r = explain(box, '2024-08-27T10:00:00');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(14);
    expect(lines[0]).toMatch(/^key [0-9a-f]{16}$/);
    expect(lines[1]).toBe(`  command: ${JSON.stringify([fetch.path])}`);
    expect(lines[2]).toBe(`  working directory: ${box.root}`);
    expect(lines[3]).toMatch(/^ {2}environment: API_TOKEN \(value hash [0-9a-f]+\)$/);
    expect(lines[4]).toBe('  environment: UNSET_VAR (unset)');
    expect(lines[5]).toMatch(/^ {2}stdin: hash [0-9a-f]{16}$/);
    expect(lines[6]).toBe('  outputs: out.csv');
    expect(lines[7]).toBe('  key text: "ns1"');
    expect(lines[8]).toBe('entry: recorded 2024-08-27 09:00:00 +02:00 (1h ago), exit 0, 10 B, 1 output path');
    expect(lines[9]).toBe('policy daily: fresh until 2024-08-28 00:00:00 +02:00');
    expect(lines[10]).toBe('policy ttl:2h: fresh until 2024-08-27 11:00:00 +02:00');
    expect(lines[11]).toMatch(/^watch data\.csv: recorded 8 B, hash ([0-9a-f]{16}); now 8 B, hash \1: unchanged$/);
    expect(lines[12]).toMatch(/^watch cat version: recorded exit 0, stdout hash ([0-9a-f]{16}); now exit 0, stdout hash \1: unchanged$/);
    expect(lines[13]).toBe('verdict: replay the entry');
    expect(fetch.runs()).toBe(1);
  });

  it('never shows an environment value', ({ box }) => {
    const r = explain(box, '2024-08-27T10:00:00');
    expect(r.stdout.toString()).not.toContain(SECRET);
    expect(r.stderr).not.toContain(SECRET);
  });

  it('says which policy is stale since when, and does not check the sources', ({ box }) => {
    const r = explain(box, '2024-08-27T12:00:00');
    expect(r.code).toBe(1);
    const out = r.stdout.toString();
    expect(out).toContain('\npolicy daily: fresh until 2024-08-28 00:00:00 +02:00\n');
    expect(out).toContain('\npolicy ttl:2h: stale since 2024-08-27 11:00:00 +02:00\n');
    expect(out).toContain('\nwatch data.csv: not checked (the policies already call for a run)\n');
    expect(out).toContain('\nwatch cat version: not checked (the policies already call for a run)\n');
    expect(out.endsWith('\nverdict: run the command (stale since 2024-08-27 11:00:00 +02:00, ttl:2h)\n')).toBe(true);
    expect(fetch.runs()).toBe(1);
  });

  it('shows the recorded and the current fingerprint of a source that changed', ({ box }) => {
    writeFileSync(box.path('version'), 'v2\n');
    const r = explain(box, '2024-08-27T10:00:00');
    expect(r.code).toBe(1);
    const line = r.stdout
      .toString()
      .split('\n')
      .find((l) => l.startsWith('watch cat version:'));
    expect(line).toMatch(/^watch cat version: recorded exit 0, stdout hash ([0-9a-f]{16}); now exit 0, stdout hash (?!\1)[0-9a-f]{16}: changed$/);
    expect(r.stdout.toString().endsWith('\nverdict: run the command (cat version changed)\n')).toBe(true);
  });

  it('says there is no entry for another stdin', ({ box }) => {
    const r = box.dcache(['status', '--explain', ...options, '--', fetch.path], { ...at('2024-08-27T10:00:00', env), input: 'other\n' });
    expect(r.code).toBe(1);
    const out = r.stdout.toString();
    expect(out).toContain('\nentry: none usable\n');
    expect(out).toContain('\nwatch data.csv: not checked (no entry)\n');
    expect(out.endsWith('\nverdict: run the command (no entry)\n')).toBe(true);
  });

  it('never writes an environment value to the cache directory', ({ box }) => {
    for (const file of listFiles(box.cacheDir)) expect(readFileSync(file).includes(SECRET)).toBe(false);
  });
});

describe('an entry recorded after now', () => {
  it('is stale for status, which says so', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path], at('2024-08-28T09:00:00'));
    const r = box.dcache(['status', '--', fetch.path], at('2024-08-27T09:00:00'));
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('would run: recorded after now, daily\n');
  });

  it('is not described as recorded 0s ago by --explain', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path], at('2024-08-28T09:00:00'));
    const r = box.dcache(['status', '--explain', '--', fetch.path], at('2024-08-27T09:00:00'));
    expect(r.code).toBe(1);
    const entry = r.stdout
      .toString()
      .split('\n')
      .find((l) => l.startsWith('entry: '));
    expect(entry).toMatch(/^entry: recorded 2024-08-28 09:00:00 \+02:00 /);
    expect(entry).not.toContain('(0s ago)');
    expect(r.stdout.toString()).toContain('\npolicy daily: stale (recorded after now)\n');
  });
});

describe('dcache run --explain', () => {
  it('prints the explanation on stderr, each line prefixed, and the command output on stdout', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path], at('2024-08-27T09:00:00'));
    const r = box.dcache(['run', '--explain', '--', fetch.path], at('2024-08-27T10:00:00'));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('data\n');
    expect(fetch.runs()).toBe(1);
    expect(plain(r.stderr)).toMatch(
      new RegExp(
        [
          '^dcache: key [0-9a-f]{16}',
          `dcache:   command: \\["${fetch.path}"\\]`,
          `dcache:   working directory: ${box.root}`,
          'dcache:   environment: \\(none\\)',
          'dcache:   stdin: \\(not part of the key\\)',
          'dcache:   outputs: \\(none\\)',
          'dcache:   key text: \\(none\\)',
          'dcache: entry: recorded 2024-08-27 09:00:00 \\+02:00 \\(1h ago\\), exit 0, 5 B, 0 output paths',
          'dcache: policy daily: fresh until 2024-08-28 00:00:00 \\+02:00',
          'dcache: verdict: replay the entry\n$',
        ].join('\n'),
      ),
    );
  });

  it('explains before the command output when it runs the command', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const r = box.shell(`$DCACHE run --explain -- '${fetch.path}' 2>&1`, at('2024-08-27T09:00:00'));
    expect(r.code).toBe(0);
    const lines = plain(r.stdout.toString()).trimEnd().split('\n');
    expect(lines.at(-2)).toBe('dcache: verdict: run the command (no entry)');
    expect(lines.at(-1)).toBe('data');
    expect(lines.slice(0, -1).every((l) => l.startsWith('dcache: '))).toBe(true);
    expect(fetch.runs()).toBe(1);
  });

  it('does not change what a hit writes on stdout', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'printf "no newline"');
    box.dcache(['run', '--', fetch.path]);
    const r = box.dcache(['run', '--explain', '--', fetch.path]);
    expect(r.stdout.toString()).toBe('no newline');
  });
});
