import { describe, expect, it } from 'vitest';
import { flagsOf, quickParseRun, RUN_OPTIONS } from '../../src/cli/run-options.js';

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
      quiet: true,
    });
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
