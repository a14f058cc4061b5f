import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readDoc } from '../support/docs.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';

// Help and version: what `dcache --help`, `dcache <cmd> --help` and a
// mistyped subcommand print, read as a user reads them.

const SUBCOMMANDS = ['run', 'status', 'warm', 'ls', 'show', 'clear', 'gc', 'stats', 'config', 'completion'] as const;

// The options of `run` as the guide's table lists them (less -V, which
// belongs to dcache itself).
const RUN_OPTIONS = [
  '-p, --policy',
  '--tz',
  '-w, --watch',
  '--watch-cmd',
  '--watch-timeout',
  '--stale-if-error',
  '--explain',
  '--remote',
  '--remote-read-only',
  '--remote-timeout',
  '-o, --output',
  '-e, --env',
  '--stdin',
  '--no-cwd',
  '--key',
  '--shell',
  '-f, --force',
  '--cache-failures',
  '--dir',
  '-v, --verbose',
  '-q, --quiet',
  '-h, --help',
];

// Every option each subcommand takes, as docs/cli.md lists them.
const OPTIONS: Record<(typeof SUBCOMMANDS)[number], string[]> = {
  run: RUN_OPTIONS,
  status: RUN_OPTIONS.filter((o) => o !== '--stale-if-error' && o !== '--remote-read-only'),
  warm: RUN_OPTIONS,
  ls: ['--dir', '--json', '--no-color', '--remote', '-h, --help'],
  show: ['--dir', '--json', '--no-color', '-h, --help'],
  clear: ['--all', '--stale', '--older-than', '--dry-run', '--no-color', '-o, --output', '-e, --env', '--stdin', '--no-cwd', '--key', '--shell', '--dir', '-h, --help'],
  gc: ['--max-size', '--max-age', '--max-entries', '--remote', '--remote-timeout', '--dir', '--no-color', '-h, --help'],
  stats: ['--json', '--zero', '--dir', '--no-color', '-h, --help'],
  config: ['--json', '-h, --help'],
  completion: ['-h, --help'],
};

// The lines of a help section ("Options:", "Commands:", "Examples:"), up to
// the next blank line.
function section(help: string, title: string): string[] {
  const lines = plain(help).split('\n');
  const start = lines.findIndex((line) => line === `${title}:`);
  if (start === -1) return [];
  const end = lines.findIndex((line, i) => i > start && line.trim() === '');
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

// The Options section as one entry per option: its flags and its
// description, wrapped lines joined.
function optionEntries(help: string): Map<string, string> {
  const entries = new Map<string, string>();
  let current: string | undefined;
  for (const line of section(help, 'Options')) {
    const head = /^ {2}(-\S.*?)(?: {2,}(.*))?$/.exec(line);
    if (head) {
      current = head[1]!.replace(/ <[^>]+>$/, '');
      entries.set(current, head[2] ?? '');
    } else if (current !== undefined) {
      entries.set(current, `${entries.get(current)!} ${line.trim()}`);
    }
  }
  return entries;
}

describe('dcache --help', () => {
  it('exits 0 with the help on stdout and nothing on stderr', ({ box }) => {
    const r = box.dcache(['--help']);
    expect(r.code).toBe(0);
    expect(plain(r.stdout.toString())).toMatch(/^Usage: dcache /);
    expect(r.stderr).toBe('');
  });

  it('lists every subcommand under Commands', ({ box }) => {
    const r = box.dcache(['--help']);
    const listed = section(r.stdout.toString(), 'Commands')
      .filter((line) => /^ {2}\S/.test(line))
      .map((line) => line.trim().split(' ')[0]);
    expect(listed).toEqual(expect.arrayContaining([...SUBCOMMANDS]));
  });

  it('gives each subcommand a single line', ({ box }) => {
    const r = box.dcache(['--help']);
    const lines = section(r.stdout.toString(), 'Commands');
    const continuations = lines.filter((line) => !/^ {2}\S/.test(line));
    expect(continuations).toEqual([]);
  });

  it('prints the same help as dcache help, which also exits 0', ({ box }) => {
    const viaFlag = box.dcache(['--help']);
    const viaCommand = box.dcache(['help']);
    expect(viaCommand.stdout.toString()).toBe(viaFlag.stdout.toString());
    expect(viaCommand.stderr).toBe('');
    expect(viaCommand.code).toBe(0);
  });

  it('writes nothing to stderr when its reader has already gone away', ({ box }) => {
    // The reader (true) exits at once; dcache starts writing well after it.
    box.shell('{ sleep 0.3; $DCACHE --help 2> help-stderr.txt; echo $? > help-code.txt; } | true');
    expect(readFileSync(box.path('help-stderr.txt'), 'utf8')).toBe('');
    // As if it had finished, or as if killed by SIGPIPE, as `yes | true` is.
    expect(['0', '141']).toContain(readFileSync(box.path('help-code.txt'), 'utf8').trim());
  });
});

describe.each(SUBCOMMANDS)('dcache %s --help', (name) => {
  it('exits 0 with the help on stdout and nothing on stderr', ({ box }) => {
    const r = box.dcache([name, '--help']);
    expect(r.code).toBe(0);
    expect(plain(r.stdout.toString())).toMatch(new RegExp(`^Usage: dcache ${name} `));
    expect(r.stderr).toBe('');
  });

  it('lists every option the subcommand takes, and only those', ({ box }) => {
    const r = box.dcache([name, '--help']);
    const listed = [...optionEntries(r.stdout.toString()).keys()];
    expect(listed).toEqual(expect.arrayContaining(OPTIONS[name]));
    expect(listed.filter((o) => !OPTIONS[name].includes(o)).filter((o) => o !== '--stale-while-revalidate')).toEqual([]);
  });

  it('has an Examples section with at least two dcache command lines', ({ box }) => {
    const r = box.dcache([name, '--help']);
    const examples = section(r.stdout.toString(), 'Examples').filter((line) => /^\s+(\S+=\S+ )*dcache /.test(line));
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });
});

describe('dcache run --help', () => {
  it.for([
    ['--policy', '(default: daily)'],
    ['--tz', '(default: $TZ or the system zone)'],
    ['--watch-timeout', '(default: 10s)'],
    ['--remote', '(default: $DCACHE_REMOTE)'],
    ['--remote-timeout', '(default: 2s)'],
    ['--dir', '(default: $DCACHE_DIR, $XDG_CACHE_HOME/dcache or ~/.cache/dcache)'],
  ] as const)('shows the default of %s', ([flag, shown], { box }) => {
    const r = box.dcache(['run', '--help']);
    const entries = optionEntries(r.stdout.toString());
    const entry = [...entries].find(([flags]) => flags.split(', ').includes(flag));
    expect(entry?.[1]).toContain(shown);
  });

  it('shows dcache in a Makefile recipe', ({ box }) => {
    const r = box.dcache(['run', '--help']);
    expect(plain(r.stdout.toString())).toMatch(/Makefile[^\n]*\n(\s+\S+:\n)\s+dcache run /);
  });

  it('shows dcache in a crontab line', ({ box }) => {
    const r = box.dcache(['run', '--help']);
    expect(plain(r.stdout.toString())).toMatch(/crontab[^\n]*\n\s+(\S+ ){5}.*dcache run /);
  });

  it('shows dcache watching a URL', ({ box }) => {
    const r = box.dcache(['run', '--help']);
    expect(plain(r.stdout.toString())).toMatch(/dcache run .*(-w|--watch) https?:\/\//);
  });

  it('says that -w watches objects, prefixes and globs in s3://, gs:// and az://, and shows one', ({ box }) => {
    const r = box.dcache(['run', '--help']);
    const watch = [...optionEntries(r.stdout.toString())].find(([flags]) => flags === '-w, --watch')![1];
    for (const part of ['s3://', 'gs://', 'az://', 'http(s)://', 'prefix (ending in /)', 'glob']) expect(watch).toContain(part);
    expect(plain(r.stdout.toString())).toMatch(/dcache run .*(-w|--watch) s3:\/\/\S+/);
  });
});

describe("the guide's table of run options", () => {
  // The rows of the table under "| option | meaning |", up to the blank line.
  const guide = readDoc('docs/guide.md').text;
  const start = guide.indexOf('| option | meaning |');
  const rows = guide.slice(start, guide.indexOf('\n\n', start)).split('\n').slice(2);

  it('says that -w watches objects, prefixes and globs in s3://, gs:// and az://', () => {
    const row = rows.find((line) => line.startsWith('| `-w, --watch <source>` |'))!;
    for (const part of ['`s3://`', '`gs://`', '`az://`', '`http(s)://`', 'prefix', 'glob']) expect(row).toContain(part);
  });

  it('has a row for every option of dcache run --help, and no other', ({ box }) => {
    const listed = [...optionEntries(box.dcache(['run', '--help']).stdout.toString()).keys()];
    const documented = rows.map((line) => /^\| `([^`]+)` \|/.exec(line)![1]!.replace(/ <[^>]+>$/, ''));
    expect(documented.sort()).toEqual(listed.filter((flags) => flags !== '-V, --version').sort());
  });
});

describe('a mistyped subcommand', () => {
  it('suggests the nearest subcommand on stderr and exits 2', ({ box }) => {
    const r = box.dcache(['rn', '--', 'echo', 'hi']);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe("dcache: unknown command 'rn' (did you mean run?)\n");
    expect(r.code).toBe(2);
  });

  it('says that a command given to help is unknown, and lists the commands', ({ box }) => {
    const r = box.dcache(['help', 'nosuch']);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toMatch(/^dcache: unknown command 'nosuch'; the commands are run, status, warm, fetch, ls, /);
    expect(r.code).toBe(2);
  });

  it('suggests -V, --version for a top-level -v', ({ box }) => {
    const r = box.dcache(['-v']);
    expect(plain(r.stderr)).toBe("dcache: unknown option '-v' (did you mean -V, --version?)\n");
    expect(r.code).toBe(2);
  });

  it('suggests the nearest option of run and exits 125', ({ box }) => {
    const r = box.dcache(['run', '--polcy', 'daily', '--', 'echo', 'hi']);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe("dcache: unknown option '--polcy' (did you mean --policy?); see 'dcache run --help'\n");
    expect(r.code).toBe(125);
  });
});

describe('dcache --version', () => {
  it('prints the version of package.json on stdout', ({ box }) => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    const r = box.dcache(['--version']);
    expect(r.stdout.toString()).toBe(`${pkg.version}\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
