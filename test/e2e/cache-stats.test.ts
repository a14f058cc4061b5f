import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { manifests } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

const at = (now: string, env: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: now, ...env } });
const ESC = '\u001b';

// The terminal tests run the CLI under util-linux `script`, which gives it a
// pseudo-terminal; .ci/run makes sure it is there.
if (!/util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '')) {
  throw new Error('util-linux script is needed for the terminal tests (apt-get install bsdutils)');
}

function onTerminal(box: Sandbox, args: string, options: { columns?: number; env?: NodeJS.ProcessEnv } = {}) {
  const inner = `stty cols ${options.columns ?? 200}; $DCACHE ${args}`;
  const r = box.shell(`script -qec '${inner}' /dev/null`, { env: { TERM: 'xterm', ...options.env } });
  return { code: r.code, text: r.stdout.toString().replaceAll('\r\n', '\n') };
}

// The fields of a --json object that the contract names, in their order:
// others may be added anywhere, these may not move or go.
const known = (object: object, fields: string[]) => Object.keys(object).filter((k) => fields.includes(k));

interface Stats {
  version: number;
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  hitRate: number | null;
  savedMs: number;
  commands: Array<{ key: string; command: string | null; hits: number; misses: number; savedMs: number }>;
  days: Array<{ date: string; hits: number; misses: number; savedMs: number }>;
  maxBytes: number;
}

function stats(box: Sandbox, now = '2024-08-27T18:00:00'): Stats {
  const r = box.dcache(['stats', '--json'], at(now));
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.toString()) as Stats;
}

function keyOf(box: Sandbox, argv0: string): string {
  const r = box.dcache(['ls', '--json']);
  return (JSON.parse(r.stdout.toString()) as { entries: Array<{ key: string; argv: string[] }> }).entries.find((e) => e.argv[0] === argv0)!.key;
}

const HOUR_MS = 60 * 60 * 1000;

const readManifest = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as { material: { argv: string[] }; [field: string]: unknown };

// Makes the entry of `argv0` (the only one, if not given) say that its
// recorded run took an hour.
function tookAnHour(box: Sandbox, argv0?: string): void {
  const paths = manifests(box.cacheDir).filter((path) => argv0 === undefined || readManifest(path).material.argv[0] === argv0);
  expect(paths).toHaveLength(1);
  writeFileSync(paths[0]!, JSON.stringify({ ...readManifest(paths[0]!), durationMs: HOUR_MS }));
}

// The time each hit says it saved, as dcache logged it.
function savedPerHit(box: Sandbox): number[] {
  const dir = join(box.cacheDir, 'activity');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.log'))
    .flatMap((name) => readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as { e: string; saved?: number })
    .filter((event) => event.e === 'hit')
    .map((event) => event.saved!);
}

// Every file under the cache directory with its size and mtime.
function tree(box: Sandbox): Map<string, string> {
  const files = new Map<string, string>();
  for (const d of readdirSync(box.cacheDir, { recursive: true, withFileTypes: true })) {
    const path = join(d.parentPath, d.name);
    const st = statSync(path);
    files.set(relative(box.cacheDir, path), d.isFile() ? `${st.size} ${st.mtimeMs}` : 'dir');
  }
  return files;
}

describe('dcache stats', () => {
  it('counts hits and misses, overall and per command, with the hit rate', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    const b = box.counter('b.sh', 'echo b');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-27T10:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-27T11:00:00'));
    box.dcache(['run', '--', b.path], at('2024-08-27T12:00:00'));
    box.dcache(['run', '--', b.path], at('2024-08-28T12:00:00'));
    const s = stats(box, '2024-08-28T18:00:00');
    expect(s).toMatchObject({ entries: 2, hits: 2, misses: 3, hitRate: 0.4 });
    const byCommand = Object.fromEntries(s.commands.map((c) => [c.command, [c.hits, c.misses]]));
    expect(byCommand).toEqual({ [a.path]: [2, 1], [b.path]: [0, 2] });
  });

  // The contract: these fields, in this order; new fields may be added.
  it('gives a versioned object with its fields, commands and days in a fixed order', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    box.dcache(['run', '--', a.path], at('2024-08-26T09:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-26T10:00:00'));
    const r = box.dcache(['stats', '--json'], at('2024-08-27T18:00:00'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const s = JSON.parse(r.stdout.toString()) as Stats;
    const days = Array.from({ length: 14 }, (_, i) => {
      const date = new Date(Date.UTC(2024, 7, 14 + i)).toISOString().slice(0, 10);
      return { date, hits: date === '2024-08-26' ? 1 : 0, misses: date === '2024-08-26' ? 1 : 0, savedMs: expect.any(Number) };
    });
    expect(s).toMatchObject({
      version: 1,
      entries: 1,
      bytes: 2,
      hits: 1,
      misses: 1,
      hitRate: 0.5,
      savedMs: expect.any(Number),
      commands: [{ key: keyOf(box, a.path), command: a.path, hits: 1, misses: 1, savedMs: expect.any(Number) }],
      days,
      maxBytes: 10 * 2 ** 30,
    });
    const fields = ['version', 'entries', 'bytes', 'hits', 'misses', 'hitRate', 'savedMs', 'commands', 'days'];
    expect(known(s, fields)).toEqual(fields);
    expect(s.commands).toHaveLength(1);
    expect(known(s.commands[0]!, ['key', 'command', 'hits', 'misses', 'savedMs'])).toEqual(['key', 'command', 'hits', 'misses', 'savedMs']);
    expect(known(s.days[0]!, ['date', 'hits', 'misses', 'savedMs'])).toEqual(['date', 'hits', 'misses', 'savedMs']);
    expect(s.days).toHaveLength(14);
    expect(s.days.at(-1)!.date).toBe('2024-08-27');
  });

  it('gives a null hit rate and empty counts for an empty cache', ({ box }) => {
    expect(stats(box)).toMatchObject({ entries: 0, bytes: 0, hits: 0, misses: 0, hitRate: null, savedMs: 0, commands: [] });
  });

  // A hit saves the recorded run's duration less its own cost. The recorded
  // run "took an hour": written into its manifest rather than slept, so that
  // what a replay costs on a slow or busy machine cannot change the outcome.
  it('counts the time saved: the recorded run’s duration less what each replay cost', ({ box }) => {
    const slow = box.counter('slow.sh', 'echo done');
    box.dcache(['run', '--', slow.path]);
    tookAnHour(box);
    box.dcache(['run', '--', slow.path]);
    box.dcache(['run', '--', slow.path]);
    expect(slow.runs()).toBe(1);
    const { durationMs } = JSON.parse(box.dcache(['show', '--json', keyOf(box, slow.path)]).stdout.toString()) as { durationMs: number };
    expect(durationMs).toBe(HOUR_MS);
    const saved = savedPerHit(box);
    expect(saved).toHaveLength(2);
    for (const ms of saved) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(durationMs);
    }
    const s = stats(box);
    expect(s.savedMs).toBe(saved[0]! + saved[1]!);
    expect(s.commands[0]!.savedMs).toBe(s.savedMs);
  });

  it('orders the top commands by the time they saved', ({ box }) => {
    const quick = box.counter('quick.sh', 'echo quick');
    const slow = box.counter('slow.sh', 'echo slow');
    box.dcache(['run', '--', quick.path]);
    box.dcache(['run', '--', slow.path]);
    tookAnHour(box, slow.path);
    box.dcache(['run', '--', slow.path]);
    for (let i = 0; i < 3; i++) box.dcache(['run', '--', quick.path]);
    expect(stats(box).commands.map((c) => c.command)).toEqual([slow.path, quick.path]);
  });

  it('keeps counting a command whose entry was cleared, without its command line', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'gone'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', 'echo', 'gone'], at('2024-08-27T10:00:00'));
    const key = keyOf(box, 'echo');
    box.dcache(['clear', '--all']);
    const s = stats(box);
    expect(s).toMatchObject({ entries: 0, hits: 1, misses: 1, savedMs: 0 });
    expect(s.commands).toEqual([expect.objectContaining({ key, command: null, hits: 1, misses: 1 })]);
    expect(box.dcache(['stats'], at('2024-08-27T18:00:00')).stdout.toString()).toMatch(new RegExp(`  ${key} +1 hits +\\S+ saved  \\(entry removed\\)`));
  });

  it('counts the same after gc has folded the logs of past days into its summary', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    box.dcache(['run', '--', a.path], at('2024-08-25T09:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-25T10:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-26T10:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-27T10:00:00'));
    const before = stats(box);
    expect(box.dcache(['gc'], at('2024-08-27T12:00:00')).code).toBe(0);
    expect(readdirSync(join(box.cacheDir, 'activity')).sort()).toEqual(['2024-08-27.log', 'summary.json']);
    expect(stats(box)).toEqual(before);
    expect(before).toMatchObject({ hits: 1, misses: 3 });
  });

  it('counts events per day, on the local calendar day', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    // 00:30 in Paris is still the 26th in UTC
    box.dcache(['run', '--', a.path], at('2024-08-27T00:30:00'));
    const day = stats(box).days.find((d) => d.date === '2024-08-27');
    expect(day).toEqual({ date: '2024-08-27', hits: 0, misses: 1, savedMs: 0 });
  });
});

describe('dcache stats --zero', () => {
  it('answers with the statistics as JSON, counted afresh, with --json', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    const r = box.dcache(['stats', '--zero', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ version: 1, entries: 1, hits: 0, misses: 0, hitRate: null });
  });

  it('resets the counts, keeps the entries, and counts afresh', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-27T10:00:00'));
    const r = box.dcache(['stats', '--zero']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('statistics reset\n');
    expect(r.stderr).toBe('');
    expect(stats(box)).toMatchObject({ entries: 1, hits: 0, misses: 0, hitRate: null, savedMs: 0, commands: [] });
    box.dcache(['run', '--', a.path], at('2024-08-27T11:00:00'));
    expect(stats(box)).toMatchObject({ hits: 1, misses: 0, hitRate: 1 });
    expect(a.runs()).toBe(1);
  });
});

describe('dcache stats for people', () => {
  it('lists no command that was never recorded nor hit', ({ box }) => {
    box.dcache(['run', '--', 'sh', '-c', 'exit 3']);
    box.dcache(['run', '--', 'echo', 'kept']);
    box.dcache(['run', '--', 'echo', 'kept']);
    const lines = box.dcache(['stats']).stdout.toString().trimEnd().split('\n');
    const top = lines.slice(lines.indexOf('top commands') + 1);
    expect(top).toEqual([expect.stringMatching(/^  [0-9a-f]{16} +1 hits .* saved  echo kept$/)]);
  });

  it('shows entries, bytes, hits, misses, hit rate, time saved and the top commands', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-27T10:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-27T11:00:00'));
    const r = box.dcache(['stats'], at('2024-08-27T18:00:00'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^entries +1$/);
    expect(lines[1]).toMatch(/^size +2 B of 10 GiB \(0\.0%\)  max-size: default$/);
    expect(lines[2]).toMatch(/^hits +2\b.*, misses 1, hit rate 67%$/);
    expect(lines[3]).toMatch(/^time saved +\d+(\.\d)?s$/);
    expect(lines[5]).toBe('top commands');
    expect(lines[6]).toMatch(new RegExp(`^  [0-9a-f]{16} +2 hits +\\d+(\\.\\d)?s saved  ${a.path}$`));
    expect(lines).toHaveLength(7);
  });

  // as ccache -s: the size held, of the limit gc and recordings keep to
  it('shows the size of the cache against its size limit, and where the limit was set', ({ box }) => {
    box.dcache(['run', '--', 'head', '-c', '300000', '/dev/zero']);
    const env = { DCACHE_MAX_SIZE: '1M' };
    const lines = box.dcache(['stats'], { env }).stdout.toString().split('\n');
    expect(lines[1]).toBe('size        293 KiB of 1.0 MiB (29%)  max-size: env DCACHE_MAX_SIZE');
    const s = JSON.parse(box.dcache(['stats', '--json'], { env }).stdout.toString()) as Stats;
    expect(s).toMatchObject({ bytes: 300_000, maxBytes: 2 ** 20 });
    // a limit of 0 has no share to show
    const zero = box.dcache(['stats'], { env: { DCACHE_MAX_SIZE: '0b' } }).stdout.toString().split('\n');
    expect(zero[1]).toBe('size        293 KiB of 0 B  max-size: env DCACHE_MAX_SIZE');
    // a limit that is not a size is the default, as for a recording
    const bad = box.dcache(['stats'], { env: { DCACHE_MAX_SIZE: 'lots' } }).stdout.toString().split('\n');
    expect(bad[1]).toBe('size        293 KiB of 10 GiB (0.0%)  max-size: default');
  });

  it('gives the same size as clear and ls', ({ box }) => {
    box.dcache(['run', '--', 'head', '-c', '300000', '/dev/zero']);
    box.dcache(['run', '-o', 'out.bin', '--', 'sh', '-c', 'head -c 5000000 /dev/urandom > out.bin']);
    const size = /^size +(.+) of /m.exec(box.dcache(['stats']).stdout.toString())![1];
    expect(box.dcache(['clear', '--all', '--dry-run']).stdout.toString()).toContain(`\nwould remove 2 entries, ${size} (--dry-run: nothing removed)\n`);
    const listed = JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ bytes: number }> };
    expect(listed.entries.reduce((n, e) => n + e.bytes, 0)).toBe(stats(box).bytes);
  });

  // A recorded run of an hour, hit once: 59m59.9s saved or so, which is 1h
  // rounded (cut, it would read 59m).
  it('rounds the time saved rather than cutting it', ({ box }) => {
    const slow = box.counter('slow.sh', 'echo done');
    box.dcache(['run', '--', slow.path]);
    tookAnHour(box);
    box.dcache(['run', '--', slow.path]);
    const lines = box.dcache(['stats']).stdout.toString().split('\n');
    expect(lines[3]).toBe('time saved  1h');
    expect(lines[6]).toMatch(/ 1 hits +1h saved  /);
  });

  it('draws no chart and writes no escape codes into a pipe', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'a']);
    const r = box.dcache(['stats'], { env: { TERM: 'xterm' } });
    expect(r.stdout.toString()).not.toContain('last 30 days');
    expect(r.stdout.toString()).not.toContain(ESC);
  });

  it('draws hits and misses per day for the last 30 days on a terminal', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    box.dcache(['run', '--', a.path], at('2024-08-26T09:00:00'));
    // the recorded run "took an hour": each hit saves about that
    tookAnHour(box);
    box.dcache(['run', '--', a.path], at('2024-08-26T10:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-26T11:00:00'));
    box.dcache(['run', '--', a.path], at('2024-08-27T11:00:00'));
    const tty = onTerminal(box, 'stats', { env: { DCACHE_NOW: '2024-08-27T18:00:00' } });
    expect(tty.code).toBe(0);
    expect(tty.text).toContain(ESC);
    const lines = plain(tty.text).trimEnd().split('\n');
    const chart = lines.slice(lines.findIndex((l) => l.startsWith('last 30 days')) + 1);
    expect(chart).toHaveLength(30);
    expect(chart[0]).toMatch(/^ +07-29 +0\/0$/);
    expect(chart[28]).toMatch(/^ +08-26 +█+ 2\/1  2h$/);
    expect(chart[29]).toMatch(/^ +08-27 +█+ 0\/1$/);
    // the busiest day fills the width; the others are in proportion
    expect(chart[28]!.split('█').length - 1).toBe(40);
    expect(chart[29]!.split('█').length - 1).toBe(13);
  });

  it('writes no escape codes on a terminal with NO_COLOR or --no-color', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'a']);
    const noColor = onTerminal(box, 'stats', { env: { NO_COLOR: '1' } });
    const flag = onTerminal(box, 'stats --no-color');
    for (const tty of [noColor, flag]) {
      expect(tty.code).toBe(0);
      expect(tty.text).toContain('last 30 days');
      expect(tty.text).not.toContain(ESC);
    }
  });
});

describe('counting a hit', () => {
  it('appends one line to the day log and changes nothing else in the cache', ({ box }) => {
    const a = box.counter('a.sh', 'echo a');
    box.dcache(['run', '--', a.path], at('2024-08-27T09:00:00'));
    const before = tree(box);
    box.dcache(['run', '--', a.path], at('2024-08-27T10:00:00'));
    const after = tree(box);
    const changed = [...after.keys()].filter((path) => before.get(path) !== after.get(path));
    expect(changed).toEqual([join('activity', '2024-08-27.log')]);
    expect([...before.keys()].filter((path) => !after.has(path))).toEqual([]);
    const grown = Number(after.get(changed[0]!)!.split(' ')[0]) - Number(before.get(changed[0]!)!.split(' ')[0]);
    expect(grown).toBeGreaterThan(0);
    expect(grown).toBeLessThan(200);
  });
});
