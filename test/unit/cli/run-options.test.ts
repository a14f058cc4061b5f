import { describe, expect, it } from 'vitest';
import { parseWithCommander, type Handlers } from '../../../src/cli/program.js';
import { flagsOf, quickParseRun, RUN_OPTIONS as TABLE, toRunOptions, type OptionSpec, type RunCliOptions } from '../../../src/cli/run-options.js';
import type { Settings } from '../../../src/setup/settings.js';

const RUN_OPTIONS = TABLE as readonly OptionSpec[];

describe('quickParseRun', () => {
  it('reads options before -- and the command after it', () => {
    expect(quickParseRun(['run', '-p', 'daily', '--policy', 'ttl:6h', '-o', 'a.csv', '--', 'curl', '-s', 'x'])).toEqual({
      command: ['curl', '-s', 'x'],
      options: { policy: ['daily', 'ttl:6h'], output: ['a.csv'] },
    });
  });

  it('reads --name=value', () => {
    expect(quickParseRun(['run', '--policy=forever', '--dir=/tmp/c', '--', 'true'])?.options).toEqual({
      policy: ['forever'],
      dir: '/tmp/c',
    });
  });

  it('takes the first operand as the command and leaves the rest to it', () => {
    expect(quickParseRun(['run', '-v', 'echo', '-n', '--force'])).toEqual({
      command: ['echo', '-n', '--force'],
      options: { verbose: true },
    });
  });

  it('sets cwd to false for --no-cwd and true flags for the others', () => {
    expect(quickParseRun(['run', '--no-cwd', '--stdin', '--shell', '-f', '--cache-failures', '-q', '--', 'x'])?.options).toEqual({
      cwd: false,
      stdin: true,
      shell: true,
      force: true,
      cacheFailures: true,
      quiet: 1,
    });
  });

  it('counts -q: -qq and -q -q are 2', () => {
    expect(quickParseRun(['run', '-qq', '--', 'x'])?.options).toEqual({ quiet: 2 });
    expect(quickParseRun(['run', '-q', '--quiet', '--', 'x'])?.options).toEqual({ quiet: 2 });
  });

  it('takes the next argument as a value even when it starts with a dash, as commander does', () => {
    expect(quickParseRun(['run', '--key', '-x', '--', 'true'])?.options).toEqual({ key: '-x' });
  });

  it.each([
    ['another subcommand', ['ls']],
    ['help', ['run', '--help']],
    ['bundled short flags', ['run', '-vf', '--', 'true']],
    ['a value glued to a short flag', ['run', '-pdaily', '--', 'true']],
    ['an unknown option', ['run', '--bogus', '--', 'true']],
    ['a value given to a flag', ['run', '--force=yes', '--', 'true']],
    ['a missing value', ['run', '--policy']],
    ['a missing command', ['run', '-v', '--']],
    ['no command at all', ['run']],
    ['--verbose with --quiet', ['run', '-v', '-q', '--', 'true']],
  ])('leaves %s to commander', (_, argv) => {
    expect(quickParseRun(argv)).toBeNull();
  });
});

describe('RUN_OPTIONS', () => {
  it('gives every option a distinct long and short name', () => {
    const longs = RUN_OPTIONS.map((s) => s.long);
    const shorts = RUN_OPTIONS.flatMap((s) => (s.short ? [s.short] : []));
    expect(new Set(longs).size).toBe(longs.length);
    expect(new Set(shorts).size).toBe(shorts.length);
  });

  it('writes commander flags with the value placeholder', () => {
    expect(RUN_OPTIONS.map(flagsOf)).toContain('-p, --policy <spec>');
    expect(RUN_OPTIONS.map(flagsOf)).toContain('--no-cwd');
  });
});

// The settings when nothing sets any.
const DEFAULTS: Settings = {
  policy: { value: [], source: 'default' },
  tz: { value: null, source: 'default' },
  key: { value: null, source: 'default' },
  dir: { value: '/home/ada/.cache/dcache', source: 'default' },
  remote: { value: null, source: 'default' },
  maxSize: { value: '10G', source: 'default' },
  maxEntrySize: { value: '4G', source: 'default' },
  signingKeyFile: { value: null, source: 'default' },
  staleWhileRevalidate: { value: null, source: 'default' },
};

// What commander makes of a `run` command line, through the real program.
async function viaCommander(argv: string[]): Promise<{ command: string[]; options: RunCliOptions }> {
  let seen: { command: string[]; options: RunCliOptions } | null = null;
  const unused = () => {
    throw new Error('not a run command line');
  };
  const handlers: Handlers = {
    run: async (command, options) => {
      seen = { command, options };
      return 0;
    },
    status: unused,
    warm: unused,
    fetch: unused,
    cache: unused,
    commandInputs: unused,
    config: unused,
  };
  const silent = { write: () => true } as unknown as NodeJS.WritableStream;
  const code = await parseWithCommander(argv, handlers, { stdout: () => silent as never, stderr: () => silent as never });
  if (code !== 0 || seen === null) throw new Error(`commander did not run ${argv.join(' ')} (exit ${code})`);
  return seen;
}

describe('the quick parser and commander', () => {
  // Every option of the table, in every form the quick parser reads.
  const lines: string[][] = [
    ['run', '--', 'true'],
    ['run', 'echo', '-n', '--force'],
    ['run', '-p', 'daily', '--policy', 'ttl:6h', '--policy=hourly', '--', 'x'],
    ['run', '--tz', 'Europe/Paris', '--tz=UTC', '--', 'x'],
    ['run', '-w', 'a.csv', '--watch', 'b/*', '--watch=https://e.com/x', '--watch-cmd', 'git ls-remote', '--watch-timeout', '3s', '--', 'x'],
    ['run', '-o', 'out.csv', '--output=dir', '-e', 'TOKEN', '--env', 'AWS_*', '--stdin', '--no-cwd', '--key', 'nightly', '--', 'x'],
    ['run', '--shell', '-f', '--cache-failures', '--stale-if-error', '--explain', '--', 'sort a | uniq'],
    ['run', '--stale-while-revalidate', '1d', '--stale-while-revalidate=2h', '--', 'x'],
    ['run', '--remote', 'redis://cache:6379', '--remote-read-only', '--remote-timeout', '5s', '--dir', '/tmp/c', '--', 'x'],
    ['run', '-v', '--', 'x'],
    ['run', '-q', '--key', '-x', '--', 'x'],
    ['run', '--dir=/tmp/c', 'x', '--dir', 'y'],
  ];

  it.each(lines.map((line) => [line.join(' '), line]))('agree on %s', async (_text, argv) => {
    const quick = quickParseRun(argv as string[]);
    expect(quick).not.toBeNull();
    const commander = await viaCommander(argv as string[]);
    expect(quick!.command).toEqual(commander.command);
    expect(toRunOptions(quick!.options, DEFAULTS)).toEqual(toRunOptions(commander.options, DEFAULTS));
  });

  it('cover every option of the table', () => {
    const given = new Set(lines.flat());
    for (const spec of RUN_OPTIONS) {
      const forms = [`--${spec.long}`, ...(spec.short ? [`-${spec.short}`] : [])];
      expect(forms.some((form) => given.has(form) || [...given].some((g) => g.startsWith(`${form}=`)))).toBe(true);
    }
  });
});
