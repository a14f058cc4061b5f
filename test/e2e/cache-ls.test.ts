import { spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

const at = (now: string, env: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: now, ...env } });
const ESC = '\u001b';

// util-linux `script` runs a command on a pseudo-terminal: the only way to
// give dcache a real TTY from a test. BSD `script` takes other flags.
// The terminal tests run the CLI under util-linux `script`, which gives it a
// pseudo-terminal; .ci/run makes sure it is there.
if (!/util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '')) {
  throw new Error('util-linux script is needed for the terminal tests (apt-get install bsdutils)');
}

// Runs `dcache <args>` with stdout on a terminal `columns` wide; returns
// what the terminal showed, with the pty's CRLF turned back into LF.
function onTerminal(box: Sandbox, args: string, options: { columns?: number; env?: NodeJS.ProcessEnv } = {}) {
  const inner = `stty cols ${options.columns ?? 250}; $DCACHE ${args}`;
  const r = box.shell(`script -qec '${inner}' /dev/null`, { env: { TERM: 'xterm', ...options.env } });
  return { code: r.code, text: r.stdout.toString().replaceAll('\r\n', '\n') };
}

interface LsEntry {
  key: string;
  argv: string[];
  cwd: string | null;
  recordedAt: string;
  fresh: boolean;
  hits: number;
  lastHitAt: string | null;
}

function lsJson(box: Sandbox, now: string): LsEntry[] {
  const r = box.dcache(['ls', '--json'], at(now));
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout.toString()) as { entries: LsEntry[] }).entries;
}

// The fields of a --json object that the contract names, in their order:
// others may be added anywhere, these may not move or go.
const known = (object: object, fields: string[]) => Object.keys(object).filter((k) => fields.includes(k));

// The cells of a table line: columns are separated by two spaces or more.
const cells = (line: string) => line.split(/ {2,}/);

describe('dcache ls', () => {
  it('lists one row per entry, oldest first: key, age, state, size, hits, policy, directory and command', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const report = box.counter('report.sh', 'echo report');
    box.dcache(['run', '--', fetch.path], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', fetch.path], at('2024-08-27T10:00:00'));
    box.dcache(['run', '-p', 'ttl:1h', '--', report.path], at('2024-08-27T10:00:00'));
    const [a, b] = lsJson(box, '2024-08-27T12:00:00');
    const r = box.dcache(['ls'], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(cells(lines[0]!)).toEqual(['KEY', 'AGE', 'STATE', 'SIZE', 'HITS', 'POLICY', 'CWD', 'COMMAND']);
    const cwd = realpathSync(box.root);
    expect(cells(lines[1]!)).toEqual([a!.key, '3h', 'fresh until 2024-08-28 00:00:00 +02:00', '5 B', '1', 'daily', cwd, fetch.path]);
    expect(cells(lines[2]!)).toEqual([b!.key, '2h', 'stale since 2024-08-27 11:00:00 +02:00', '7 B', '0', 'ttl:1h', cwd, report.path]);
  });

  it('shows times in the zone the entry was recorded with, with their offset, as -v said them', ({ box }) => {
    // the system's zone is UTC; the entry's policies are judged in Paris
    const utc = (now: string) => at(now, { TZ: 'UTC' });
    const run = box.dcache(['run', '-v', '--tz', 'Europe/Paris', '-p', 'daily@06:00', '--', 'echo', 'a'], utc('2024-08-27T07:00:00Z'));
    const until = /fresh until (\S+ \S+ \S+)$/m.exec(plain(run.stderr))![1]!;
    expect(until).toBe('2024-08-28 06:00:00 +02:00');
    const piped = box.dcache(['ls'], utc('2024-08-27T08:00:00Z')).stdout.toString().trimEnd().split('\n');
    expect(cells(piped[1]!)[2]).toBe(`fresh until ${until}`);
    const [entry] = lsJson(box, '2024-08-27T08:00:00Z');
    const shown = plain(box.dcache(['show', entry!.key], utc('2024-08-27T08:00:00Z')).stdout.toString());
    expect(shown).toMatch(/^recorded +2024-08-27 09:00:00 \+02:00 \(1h ago\), ran \d+ ms$/m);
    expect(shown).toMatch(new RegExp(`^state +fresh until ${until.replace('+', '\\+')}$`, 'm'));
  });

  it('lines its columns up under the header', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'a'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '-p', 'ttl:1h', '--', 'echo', 'a much longer line'], at('2024-08-27T09:00:00'));
    const lines = box.dcache(['ls'], at('2024-08-27T12:00:00')).stdout.toString().trimEnd().split('\n');
    for (const column of ['AGE', 'STATE', 'SIZE', 'HITS', 'POLICY', 'CWD', 'COMMAND']) {
      const start = lines[0]!.indexOf(column);
      for (const line of lines.slice(1)) {
        expect(line[start - 1]).toBe(' ');
        expect(line[start]).not.toBe(' ');
      }
    }
  });

  it('shows a shell command as its string and an entry without its directory as -', ({ box }) => {
    box.dcache(['run', '--shell', '--', 'echo a | tr a b'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--no-cwd', '--', 'echo', 'two words'], at('2024-08-27T10:00:00'));
    const lines = box.dcache(['ls'], at('2024-08-27T12:00:00')).stdout.toString().trimEnd().split('\n');
    expect(cells(lines[1]!).slice(6)).toEqual([realpathSync(box.root), 'echo a | tr a b']);
    expect(cells(lines[2]!).slice(6)).toEqual(['-', "echo 'two words'"]);
  });

  it('says on stderr that the cache is empty, and exits 0', ({ box }) => {
    const r = box.dcache(['ls']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe(`dcache: no entries in ${box.cacheDir}\n`);
  });

  it('lists the cache given with --dir', ({ box }) => {
    box.dcache(['run', '--dir', box.path('other'), '--', 'echo', 'elsewhere']);
    const here = box.dcache(['ls', '--json']);
    const there = box.dcache(['ls', '--json', '--dir', box.path('other')]);
    expect((JSON.parse(here.stdout.toString()) as { entries: unknown[] }).entries).toEqual([]);
    expect((JSON.parse(there.stdout.toString()) as { entries: LsEntry[] }).entries.map((e) => e.argv)).toEqual([['echo', 'elsewhere']]);
  });

  it('exits 2 and names the option when given an unknown one', ({ box }) => {
    const r = box.dcache(['ls', '--long']);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toMatch(/^dcache: unknown option '--long'/);
  });
});

describe('dcache ls --json', () => {
  // The contract: these fields, in this order; new fields may be added.
  it('gives a versioned object with one entry per recording, its fields in a fixed order', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data; echo warn >&2');
    const args = ['run', '-e', 'REGION', '-o', 'out.txt', '--', 'sh', '-c', `${fetch.path}; echo file > out.txt`];
    box.dcache(args, at('2024-08-27T09:00:00', { REGION: 'eu' }));
    box.dcache(args, at('2024-08-27T10:30:00', { REGION: 'eu' }));
    const r = box.dcache(['ls', '--json'], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout.toString()) as { entries: Array<Record<string, unknown>> };
    expect(known(report, ['version', 'entries'])).toEqual(['version', 'entries']);
    expect(report).toMatchObject({
      version: 1,
      entries: [
        {
          key: expect.stringMatching(/^[0-9a-f]{16}$/),
          argv: ['sh', '-c', `${fetch.path}; echo file > out.txt`],
          shell: false,
          cwd: realpathSync(box.root),
          recordedAt: '2024-08-27T07:00:00.000Z',
          policies: ['daily'],
          fresh: true,
          expiresAt: '2024-08-27T22:00:00.000Z',
          // stdout, stderr, out.txt, and the interleaving ("1 5\n2 5\n")
          bytes: 5 + 5 + 5 + 8,
          hits: 1,
          lastHitAt: '2024-08-27T08:30:00.000Z',
          outputs: ['out.txt'],
          exitCode: 0,
        },
      ],
    });
    expect(report.entries).toHaveLength(1);
    const fields = [
      'key',
      'argv',
      'shell',
      'cwd',
      'recordedAt',
      'policies',
      'fresh',
      'expiresAt',
      'bytes',
      'hits',
      'lastHitAt',
      'outputs',
      'exitCode',
    ];
    expect(known(report.entries[0]!, fields)).toEqual(fields);
  });

  it('counts every blob of an entry once in its bytes: stdout, stderr, their interleaving and output files', ({ box }) => {
    box.dcache(['run', '-o', 'out.txt', '--shell', '--', 'printf 12345; printf 678 >&2; printf abcdefghij > out.txt']);
    const [entry] = (JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ bytes: number }> }).entries;
    // the order blob is two lines, "1 5\n2 3\n"
    expect(entry!.bytes).toBe(5 + 3 + 8 + 10);
  });

  it('says stale with the instant it expired, and null for an entry recorded forever', ({ box }) => {
    box.dcache(['run', '-p', 'ttl:1h', '--', 'echo', 'a'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '-p', 'forever', '--', 'echo', 'b'], at('2024-08-27T09:30:00'));
    const [ttl, forever] = (JSON.parse(box.dcache(['ls', '--json'], at('2024-08-27T12:00:00')).stdout.toString()) as {
      entries: Array<{ fresh: boolean; expiresAt: string | null }>;
    }).entries;
    expect(ttl).toMatchObject({ fresh: false, expiresAt: '2024-08-27T08:00:00.000Z' });
    expect(forever).toMatchObject({ fresh: true, expiresAt: null });
  });

  it('gives cwd null for an entry recorded with --no-cwd', ({ box }) => {
    box.dcache(['run', '--no-cwd', '--', 'echo', 'a']);
    expect(lsJson(box, '2024-08-27T12:00:00')[0]!.cwd).toBeNull();
  });

  it('gives an empty list for an empty cache', ({ box }) => {
    const r = box.dcache(['ls', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toStrictEqual({ version: 1, entries: [] });
    expect(r.stderr).toBe('');
  });
});

describe('dcache ls colour', () => {
  const record = (box: Sandbox) => {
    box.dcache(['run', '--', 'echo', 'fresh'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '-p', 'ttl:1h', '--', 'echo', 'stale'], at('2024-08-27T09:00:00'));
  };

  it('writes no escape codes into a pipe', ({ box }) => {
    record(box);
    const r = box.dcache(['ls'], at('2024-08-27T12:00:00', { TERM: 'xterm' }));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).not.toContain(ESC);
  });

  it('colours the table on a terminal, and it reads the same without the colour', ({ box }) => {
    record(box);
    const tty = onTerminal(box, 'ls', { env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const uncoloured = onTerminal(box, 'ls', { env: { DCACHE_NOW: '2024-08-27T12:00:00', NO_COLOR: '1' } });
    expect(tty.code).toBe(0);
    expect(tty.text).toContain(ESC);
    expect(plain(tty.text)).toBe(uncoloured.text);
  });

  it('writes no escape codes on a terminal when NO_COLOR is set', ({ box }) => {
    record(box);
    const tty = onTerminal(box, 'ls', { env: { DCACHE_NOW: '2024-08-27T12:00:00', NO_COLOR: '1' } });
    expect(tty.code).toBe(0);
    expect(tty.text).toContain('KEY');
    expect(tty.text).not.toContain(ESC);
  });

  it('writes no escape codes on a terminal with --no-color', ({ box }) => {
    record(box);
    const tty = onTerminal(box, 'ls --no-color', { env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    expect(tty.code).toBe(0);
    expect(tty.text).toContain('KEY');
    expect(tty.text).not.toContain(ESC);
  });

  it('writes no escape codes on a terminal whose TERM is dumb', ({ box }) => {
    record(box);
    const tty = onTerminal(box, 'ls', { env: { DCACHE_NOW: '2024-08-27T12:00:00', TERM: 'dumb' } });
    expect(tty.code).toBe(0);
    expect(tty.text).toContain('KEY');
    expect(tty.text).not.toContain(ESC);
  });

  it('writes no escape codes into ls --json on a terminal', ({ box }) => {
    record(box);
    const tty = onTerminal(box, 'ls --json', { env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    expect(tty.code).toBe(0);
    expect(tty.text).not.toContain(ESC);
    expect((JSON.parse(tty.text) as { entries: unknown[] }).entries).toHaveLength(2);
  });
});

describe('dcache ls on a narrow terminal', () => {
  const longCommand = ['echo', ...Array.from({ length: 30 }, (_, i) => `word${i}`)];

  it('cuts the command to fit the width, never the key', ({ box }) => {
    box.dcache(['run', '--', ...longCommand], at('2024-08-27T09:00:00'));
    const [entry] = lsJson(box, '2024-08-27T12:00:00');
    const tty = onTerminal(box, 'ls --no-color', { columns: 150, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const lines = tty.text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(150);
    const row = cells(lines[1]!);
    expect(row[0]).toBe(entry!.key.slice(0, 7));
    // the working directory went first, then the command was cut
    expect(row.at(-1)).toMatch(/^echo word0 word1 .*…$/);
  });

  it('keeps the whole command in a pipe', ({ box }) => {
    box.dcache(['run', '--', ...longCommand], at('2024-08-27T09:00:00'));
    const lines = box.dcache(['ls'], at('2024-08-27T12:00:00')).stdout.toString().trimEnd().split('\n');
    expect(cells(lines[1]!)[7]).toBe(longCommand.join(' '));
  });

  it('keeps on 80 columns what tells entries of one command apart, compact states and the exit code of a failure; the directory goes first', ({ box }) => {
    const deep = box.path('a', 'very', 'long', 'working', 'directory', 'for', 'the', 'reports');
    mkdirSync(deep, { recursive: true });
    const fetch = box.counter('fetch-customer-data.sh', 'echo rows > out.csv');
    const run = (args: string[]) => box.dcache(['run', ...args, '--', fetch.path], { cwd: deep, env: { DCACHE_NOW: '2024-08-27T09:00:00' } });
    run(['-o', 'out.csv']);
    run(['--key', 'nightly']);
    run(['-e', 'HOME']);
    box.dcache(['run', '--cache-failures', '--', 'sh', '-c', 'exit 3'], { cwd: deep, env: { DCACHE_NOW: '2024-08-27T09:00:00' } });
    const tty = onTerminal(box, 'ls --no-color', { columns: 80, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const lines = tty.text.trimEnd().split('\n');
    // the directory and the hits went; the program's directory was cut, not its name
    expect(cells(lines[0]!)).toEqual(['KEY', 'AGE', 'STATE', 'SIZE', 'POLICY', 'COMMAND']);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    const rows = lines.slice(1).map(cells);
    expect(rows.map((r) => r[2])).toEqual(['fresh 12h', 'fresh 12h', 'fresh 12h', 'fresh 12h']);
    expect(rows.map((r) => r[5]!).sort()).toEqual([
      "sh -c 'exit 3' (exit 3)",
      '…/fetch-customer-data.sh [--key nightly]',
      '…/fetch-customer-data.sh [-e HOME]',
      '…/fetch-customer-data.sh [-o out.csv]',
    ]);
    const piped = box.dcache(['ls'], at('2024-08-27T12:00:00')).stdout.toString().trimEnd().split('\n');
    expect(piped.map(cells)).toContainEqual([expect.any(String), '3h', 'fresh until 2024-08-28 00:00:00 +02:00', '5 B', '0', 'daily', deep, `${fetch.path} [-o out.csv]`]);
  });

  // The entries a new user made of one script, told apart by -o and --key.
  const fourOfOneScript = (box: Sandbox) => {
    const script = box.counter('fetch-customer-data.sh', 'echo rows > out1.txt; echo rows > out2.txt; echo rows');
    for (const options of [['-o', 'out1.txt'], ['-o', 'out2.txt'], ['--key', 'acme'], ['--key', 'globex']]) {
      box.dcache(['run', ...options, '--', './fetch-customer-data.sh'], at('2024-08-27T09:00:00'));
    }
    return script;
  };

  it('fits 80 columns exactly, with the whole script name and what tells its entries apart on each line', ({ box }) => {
    fourOfOneScript(box);
    const tty = onTerminal(box, 'ls --no-color', { columns: 80, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const lines = tty.text.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    // the working directory and the hits gave the command their room
    expect(cells(lines[0]!)).toEqual(['KEY', 'AGE', 'STATE', 'SIZE', 'POLICY', 'COMMAND']);
    const rows = lines.slice(1).map(cells);
    // a key of 7 digits, as git's, and a compact state
    for (const row of rows) expect(row.slice(0, 3)).toEqual([expect.stringMatching(/^[0-9a-f]{7}$/), '3h', 'fresh 12h']);
    expect(rows.map((r) => r.at(-1)).sort()).toEqual([
      './fetch-customer-data.sh [--key acme]',
      './fetch-customer-data.sh [--key globex]',
      './fetch-customer-data.sh [-o out1.txt]',
      './fetch-customer-data.sh [-o out2.txt]',
    ]);
  });

  it('takes two lines an entry below that, the command alone on the second, still whole', ({ box }) => {
    fourOfOneScript(box);
    const tty = onTerminal(box, 'ls --no-color', { columns: 50, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const lines = tty.text.trimEnd().split('\n');
    expect(lines).toHaveLength(10);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(50);
    expect(cells(lines[0]!)).toEqual(['KEY', 'AGE', 'STATE', 'SIZE', 'HITS', 'POLICY']);
    expect(lines[1]).toBe('  COMMAND');
    expect(lines.filter((_, i) => i % 2 === 1).slice(1).sort()).toEqual([
      '  ./fetch-customer-data.sh [--key acme]',
      '  ./fetch-customer-data.sh [--key globex]',
      '  ./fetch-customer-data.sh [-o out1.txt]',
      '  ./fetch-customer-data.sh [-o out2.txt]',
    ]);
  });

  it('fits 80 columns on a terminal that does not say how wide it is, and COLUMNS there', ({ box }) => {
    fourOfOneScript(box);
    const unknown = onTerminal(box, 'ls --no-color', { columns: 0, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const at80 = onTerminal(box, 'ls --no-color', { columns: 80, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    expect(unknown.text).toBe(at80.text);
    const at50 = onTerminal(box, 'ls --no-color', { columns: 50, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const columns = onTerminal(box, 'ls --no-color', { columns: 0, env: { DCACHE_NOW: '2024-08-27T12:00:00', COLUMNS: '50' } });
    expect(columns.text).toBe(at50.text);
  });

  it('gives each key as many digits as tell the listed keys apart, at least 7', ({ box }) => {
    // 17 keys: a 7-digit prefix shared by two is unlikely, and each shown is unique
    box.shell('i=0; while [ $i -le 16 ]; do $DCACHE run --no-cwd -- echo $i >/dev/null; i=$((i+1)); done');
    const tty = onTerminal(box, 'ls --no-color', { columns: 80 });
    const shown = tty.text.trimEnd().split('\n').slice(1).map((line) => cells(line)[0]!);
    expect(shown).toHaveLength(17);
    expect(new Set(shown).size).toBe(17);
    const all = (JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ key: string }> }).entries.map((e) => e.key);
    for (const key of shown) {
      expect(key.length).toBeGreaterThanOrEqual(7);
      expect(all.filter((k) => k.startsWith(key))).toHaveLength(1);
    }
  });

  it('fits every line into an 80-column terminal', ({ box }) => {
    box.dcache(['run', '--', ...longCommand], at('2024-08-27T09:00:00'));
    const tty = onTerminal(box, 'ls --no-color', { columns: 80, env: { DCACHE_NOW: '2024-08-27T12:00:00' } });
    const lines = tty.text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
  });
});
