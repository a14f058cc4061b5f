import type { Settings } from '../setup/settings.js';
import { POLICY_HELP } from '../policy/policy.js';

// The options of `dcache run` (and `status`, and `clear --`), declared once.
// Everything about them comes from this table: the quick parser below, the
// commander options (help, errors, completion), the typed options the
// commands take, and their fallbacks to the settings.

export interface OptionSpec {
  // the property of the parsed options
  key: string;
  short?: string;
  long: string;
  // placeholder of the value, for options that take one
  value?: string;
  repeatable?: boolean;
  // --no-x: sets `key` to false
  negate?: boolean;
  // a flag that counts how often it is given (-q, -qq)
  count?: boolean;
  // the setting (environment, config file) it falls back to when not given
  setting?: 'policy' | 'tz' | 'key' | 'dir' | 'remote' | 'staleWhileRevalidate';
  description: string;
}

export const RUN_OPTIONS = [
  {
    short: 'p',
    long: 'policy',
    value: 'spec',
    repeatable: true,
    key: 'policy',
    setting: 'policy',
    description: `freshness policy, repeatable, all must hold: ${POLICY_HELP} (default: daily)`,
  },
  { long: 'tz', value: 'zone', key: 'tz', setting: 'tz', description: 'IANA time zone for calendar policies (default: $TZ or the system zone)' },
  {
    short: 'w',
    long: 'watch',
    value: 'source',
    repeatable: true,
    key: 'watch',
    description:
      'a local file, directory or glob; an http(s):// URL; or an object, a prefix (ending in /) or a glob of keys in s3://, gs:// or az:// (s3://bucket/exports/*.csv); the entry is stale once it changes (repeatable)',
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
    description: 'how long a URL, a cloud object or a probe may take before it counts as changed (default: 10s)',
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
  { long: 'key', value: 'text', key: 'key', setting: 'key', description: 'extra text mixed into the key (a namespace; default: $DCACHE_KEY)' },
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
    long: 'stale-while-revalidate',
    value: 'duration',
    key: 'staleWhileRevalidate',
    setting: 'staleWhileRevalidate',
    description: 'an entry stale for no longer than this is replayed at once and refreshed in the background (e.g. 1d)',
  },
  {
    long: 'remote',
    value: 'url',
    key: 'remote',
    setting: 'remote',
    description: 'shared cache: redis://[user:password@]host:port[/db], http(s)://host/path, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or file:///shared/dir (default: $DCACHE_REMOTE)',
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
    setting: 'dir',
    description: 'cache directory (default: $DCACHE_DIR, $XDG_CACHE_HOME/dcache or ~/.cache/dcache)',
  },
  { short: 'v', long: 'verbose', key: 'verbose', description: 'say on stderr whether it was a hit or a miss, and why' },
  {
    short: 'q',
    long: 'quiet',
    key: 'quiet',
    count: true,
    description: "print nothing of dcache's own but errors and what you must know: stale output served, a cache or a source bypassed; -qq: errors only",
  },
] as const satisfies readonly OptionSpec[];

type Spec = (typeof RUN_OPTIONS)[number];

// What a parser makes of one option: a list, a text, or a flag.
type Parsed<S extends Spec> = S extends { repeatable: true } ? string[] : S extends { value: string } ? string : S extends { count: true } ? number : boolean;

// The options as parsed from a command line: only those given.
export type RunCliOptions = { [S in Spec as S['key']]?: Parsed<S> };

// The options the commands take: defaults applied, settings filled in.
export type RunOptions = {
  [S in Spec as S['key']]-?: S extends { repeatable: true } ? string[] : S extends { value: string } ? string | undefined : S extends { count: true } ? number : boolean;
} & {
  // the automatic clean-up's size limit (DCACHE_MAX_SIZE or a config file)
  maxSize: string;
  // the largest entry the remote hands over (DCACHE_MAX_ENTRY_SIZE or a config file)
  maxEntrySize: string;
  // DCACHE_SIGNING_KEY_FILE or the config's signingKeyFile
  signingKeyFile: string | null;
};

export function flagsOf(spec: OptionSpec): string {
  const long = `--${spec.long}${spec.value ? ` <${spec.value}>` : ''}`;
  return spec.short ? `-${spec.short}, ${long}` : long;
}

// From a command line to the options the commands take: a flag wins over
// its setting (environment, then configuration files), which wins over the
// default (a list is empty, a flag off, a --no-x on).
export function toRunOptions(parsed: RunCliOptions, settings: Settings): RunOptions {
  const given = parsed as Record<string, unknown>;
  const options: Record<string, unknown> = {
    maxSize: settings.maxSize.value,
    maxEntrySize: settings.maxEntrySize.value,
    signingKeyFile: settings.signingKeyFile.value,
  };
  for (const spec of RUN_OPTIONS as readonly OptionSpec[]) {
    let value = given[spec.key];
    if (value === undefined && spec.setting !== undefined) value = settings[spec.setting].value ?? undefined;
    if (value === undefined) value = spec.repeatable ? [] : spec.value !== undefined ? undefined : spec.count ? 0 : spec.negate === true;
    options[spec.key] = value;
  }
  return options as RunOptions;
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
    // -qq: a counted flag given twice in one
    if (/^-(q{2,})$/.test(token)) {
      options.quiet = (options.quiet ?? 0) + token.length - 1;
      continue;
    }
    const long = token.startsWith('--');
    const eq = long ? token.indexOf('=') : -1;
    const name = long ? token.slice(2, eq === -1 ? undefined : eq) : token.slice(1);
    const spec = (RUN_OPTIONS as readonly OptionSpec[]).find((s) => (long ? s.long === name : s.short === name));
    if (!spec) return null;
    if (spec.value === undefined) {
      if (eq !== -1) return null;
      set[spec.key] = spec.count ? ((set[spec.key] as number | undefined) ?? 0) + 1 : !spec.negate;
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

// The command line of `dcache run` that makes the call these options (as
// typed: the refresh reads the same settings from its environment and
// files, and a setting such as DCACHE_REMOTE may hold a password, which a
// command line would show to every user of the machine) and this command
// make: what a background refresh runs. Every option is given in its
// --name=value form; what only shapes messages is left out.
export function runArgv(options: RunCliOptions, command: readonly string[]): string[] {
  const argv = ['run'];
  const given = options as Record<string, unknown>;
  for (const spec of RUN_OPTIONS as readonly OptionSpec[]) {
    if (spec.key === 'verbose' || spec.key === 'quiet' || spec.key === 'explain') continue;
    const value = given[spec.key];
    if (spec.repeatable) for (const v of (value as string[] | undefined) ?? []) argv.push(`--${spec.long}=${v}`);
    else if (spec.value !== undefined) {
      if (typeof value === 'string') argv.push(`--${spec.long}=${value}`);
    } else if (spec.negate === true) {
      if (value === false) argv.push(`--${spec.long}`);
    } else if (value === true) argv.push(`--${spec.long}`);
  }
  return [...argv, '--', ...command];
}

// Whether an argument of the command reads as one of dcache's own options
// (-p, --policy, --policy=daily): a sign that it was meant for dcache.
export function looksLikeRunOption(arg: string): boolean {
  if (!arg.startsWith('-') || arg === '-' || arg === '--') return false;
  const long = arg.startsWith('--') ? arg.slice(2).split('=')[0] : null;
  return (RUN_OPTIONS as readonly OptionSpec[]).some((spec) => (long !== null ? spec.long === long : `-${spec.short}` === arg));
}
