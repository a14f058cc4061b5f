import { POLICY_HELP } from '../policy/policy.js';

// The options of `dcache run` (and, later, `status`), declared once: the
// CLI builds its commander options from this table, and quickParseRun reads
// the common forms of a `run` command line from it without loading
// commander at all, which is a sizeable share of a cache hit.

export interface RunCliOptions {
  policy?: string[];
  tz?: string;
  watch?: string[];
  watchCmd?: string[];
  watchTimeout?: string;
  staleIfError?: boolean;
  explain?: boolean;
  remote?: string;
  remoteReadOnly?: boolean;
  remoteTimeout?: string;
  output?: string[];
  env?: string[];
  stdin?: boolean;
  cwd?: boolean;
  key?: string;
  shell?: boolean;
  force?: boolean;
  cacheFailures?: boolean;
  dir?: string;
  verbose?: boolean;
  quiet?: boolean;
}

export interface OptionSpec {
  short?: string;
  long: string;
  // placeholder of the value, for options that take one
  value?: string;
  repeatable?: boolean;
  // --no-x: sets `key` to false
  negate?: boolean;
  key: keyof RunCliOptions;
  description: string;
}

export const RUN_OPTIONS: readonly OptionSpec[] = [
  {
    short: 'p',
    long: 'policy',
    value: 'spec',
    repeatable: true,
    key: 'policy',
    description: `freshness policy, repeatable, all must hold: ${POLICY_HELP} (default: daily)`,
  },
  { long: 'tz', value: 'zone', key: 'tz', description: 'IANA time zone for calendar policies (default: $TZ or the system zone)' },
  {
    short: 'w',
    long: 'watch',
    value: 'source',
    repeatable: true,
    key: 'watch',
    description: 'a file, directory, glob or http(s):// URL; the entry is stale once it changes (repeatable)',
  },
  {
    long: 'watch-cmd',
    value: 'command',
    repeatable: true,
    key: 'watchCmd',
    description: 'a cheap probe run by /bin/sh -c that prints the state of a source; the entry is stale once its stdout changes, and a probe that exits non-zero could not check (repeatable)',
  },
  {
    long: 'watch-timeout',
    value: 'duration',
    key: 'watchTimeout',
    description: 'how long a URL or probe may take before it counts as changed (default: 10s)',
  },
  {
    short: 'o',
    long: 'output',
    value: 'path',
    repeatable: true,
    key: 'output',
    description: 'a file or directory the command writes, repeatable: captured after exit 0, restored on a hit',
  },
  {
    short: 'e',
    long: 'env',
    value: 'name',
    repeatable: true,
    key: 'env',
    description: 'an environment variable (or a glob such as AWS_*) whose value is part of the key, repeatable',
  },
  { long: 'stdin', key: 'stdin', description: 'read all of standard input, make its hash part of the key, and feed it to the command' },
  { long: 'no-cwd', negate: true, key: 'cwd', description: 'leave the working directory out of the key' },
  { long: 'key', value: 'text', key: 'key', description: 'extra text mixed into the key (a namespace)' },
  { long: 'shell', key: 'shell', description: 'run the single command string through /bin/sh -c (pipelines, redirections)' },
  { short: 'f', long: 'force', key: 'force', description: 'run and record even if a fresh entry exists' },
  {
    long: 'cache-failures',
    key: 'cacheFailures',
    description: 'record non-zero exits too, and replay them (default: only exit 0 is recorded and replayed)',
  },
  {
    long: 'stale-if-error',
    key: 'staleIfError',
    description: 'if the run fails and an earlier successful entry exists, replay that one and warn',
  },
  {
    long: 'remote',
    value: 'url',
    key: 'remote',
    description: 'shared cache: redis://[user:password@]host:port[/db] or http(s)://host/path (default: $DCACHE_REMOTE)',
  },
  { long: 'remote-read-only', key: 'remoteReadOnly', description: 'use the shared cache but never write to it (also ?mode=ro)' },
  {
    long: 'remote-timeout',
    value: 'duration',
    key: 'remoteTimeout',
    description: 'how long the shared cache may take to answer before it is given up (default: 2s)',
  },
  { long: 'explain', key: 'explain', description: 'say on stderr how the key was made and why the entry is fresh or not' },
  {
    long: 'dir',
    value: 'path',
    key: 'dir',
    description: 'cache directory (default: $DCACHE_DIR, $XDG_CACHE_HOME/dcache or ~/.cache/dcache)',
  },
  { short: 'v', long: 'verbose', key: 'verbose', description: 'say on stderr whether it was a hit or a miss, and why' },
  { short: 'q', long: 'quiet', key: 'quiet', description: "print nothing of dcache's own but errors" },
];

export function flagsOf(spec: OptionSpec): string {
  const long = `--${spec.long}${spec.value ? ` <${spec.value}>` : ''}`;
  return spec.short ? `-${spec.short}, ${long}` : long;
}

// Reads `run [options] [--] <command...>` when it uses only the plain forms
// (`-p x`, `--policy x`, `--policy=x`, `--flag`, `--`). Anything else (help,
// bundled short flags, an unknown or incomplete option, conflicting ones)
// returns null and commander parses it, with its error messages.
export function quickParseRun(argv: readonly string[]): { command: string[]; options: RunCliOptions } | null {
  if (argv[0] !== 'run') return null;
  const options: RunCliOptions = {};
  const set = options as Record<string, unknown>;
  for (let i = 1; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--' || !token.startsWith('-') || token === '-') {
      const command = argv.slice(token === '--' ? i + 1 : i);
      if (command.length === 0 || (options.verbose && options.quiet)) return null;
      return { command, options };
    }
    const long = token.startsWith('--');
    const eq = long ? token.indexOf('=') : -1;
    const name = long ? token.slice(2, eq === -1 ? undefined : eq) : token.slice(1);
    const spec = RUN_OPTIONS.find((s) => (long ? s.long === name : s.short === name));
    if (!spec) return null;
    if (spec.value === undefined) {
      if (eq !== -1) return null;
      set[spec.key] = !spec.negate;
      continue;
    }
    let value: string;
    if (eq !== -1) {
      value = token.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) return null;
      value = argv[++i]!;
    }
    if (spec.repeatable) set[spec.key] = [...((set[spec.key] as string[] | undefined) ?? []), value];
    else set[spec.key] = value;
  }
  return null;
}
