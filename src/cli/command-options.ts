import { RUN_OPTIONS, type OptionSpec } from './run-options.js';

// The subcommands and the options each takes beyond those of `run` (which
// are RUN_OPTIONS, in run-options.ts), declared once: program.ts hands them
// to commander (help, errors, completion) and reference.ts writes
// docs/cli.md from them, so the help and the reference cannot disagree.

// One option as commander reads it: `--max-size <size>`, `--no-color`.
export interface CommandOption {
  flags: string;
  description: string;
}

export type RunOptionKey = (typeof RUN_OPTIONS)[number]['key'];

export interface CommandSpec {
  // what follows `dcache <name>` in the usage line
  usage: string;
  description: string;
  // the options of run it takes too: all but some, or only some
  runOptions?: { except: readonly RunOptionKey[] } | { only: readonly RunOptionKey[] };
  // its own options, in the order help lists them (before run's)
  options: readonly CommandOption[];
}

export const HELP_OPTION: CommandOption = { flags: '-h, --help', description: 'show help' };
export const VERSION_OPTION: CommandOption = { flags: '-V, --version', description: 'print the version' };

const DIR: CommandOption = { flags: '--dir <path>', description: 'cache directory (default: $DCACHE_DIR, $XDG_CACHE_HOME/dcache or ~/.cache/dcache)' };
const JSON_OUTPUT: CommandOption = { flags: '--json', description: 'machine-readable output (a versioned, stable format)' };
const NO_COLOR: CommandOption = { flags: '--no-color', description: 'no colour, even on a terminal' };

const RUN_USAGE = '[run options] -- <command> [args...]';

// In the order `dcache --help` lists them.
export const COMMANDS = {
  run: {
    usage: '[options] -- <command> [args...]',
    description: 'run a command, or replay its fresh output',
    runOptions: { except: [] },
    options: [],
  },
  status: {
    usage: RUN_USAGE,
    description: 'would run replay (0) or run (1)? and why',
    // status never writes: --stale-if-error and --remote-read-only say nothing to it
    runOptions: { except: ['staleIfError', 'remoteReadOnly'] },
    options: [],
  },
  warm: {
    usage: RUN_USAGE,
    description: 'refresh a stale entry in the background',
    runOptions: { except: [] },
    options: [],
  },
  fetch: {
    usage: '[options] <source>',
    description: "download a bucket's objects that changed",
    // its own words for the options it shares with run: they mean other things here
    options: [
      { flags: '-o, --output <path>', description: 'the file to write one object to (default: stdout), or the directory to mirror a prefix or glob into (required)' },
      {
        flags: '-p, --policy <spec>',
        description: 'check the source only once this run policy says the last fetch is stale (daily, daily@06:00, ttl:1h...; default: check at every call)',
      },
      { flags: '--tz <zone>', description: 'IANA time zone for calendar policies (default: $TZ or the system zone)' },
      { flags: '-f, --force', description: 'check the source even if --policy says the last fetch is still fresh' },
      { flags: '--no-delete', description: 'keep the files of objects removed from the source (default: the files fetch wrote for them go)' },
      { flags: '--timeout <duration>', description: 'how long the store may take to answer a request, or a download to move 64 KiB, before it is given up (default: 10s)' },
      { flags: '--remote <url>', description: "shared cache whose blobs a fleet of hosts shares: what one host fetched, the others take from it (as run's --remote; default: $DCACHE_REMOTE)" },
      { flags: '--remote-read-only', description: 'take from the shared cache, never write to it' },
      { flags: '--remote-timeout <duration>', description: 'how long the shared cache may take to answer before it is given up (default: 2s)' },
      { flags: '--key <text>', description: 'extra text mixed into the key (a namespace)' },
      DIR,
      { flags: '-v, --verbose', description: 'name the objects added, changed and removed, and what was downloaded' },
      { flags: '-q, --quiet', description: 'print nothing of dcache\'s own but errors' },
    ],
  },
  ls: {
    usage: '[options]',
    description: 'list the entries in the cache',
    options: [DIR, JSON_OUTPUT, NO_COLOR, { flags: '--remote', description: 'show how many hits came from the remote cache' }],
  },
  show: {
    usage: '[options] <key-prefix>',
    description: 'show everything about one entry',
    options: [DIR, JSON_OUTPUT, NO_COLOR],
  },
  clear: {
    usage: '(<key-prefix>... | --all | --stale | --older-than <duration> | [run options] -- <command>...) [--dry-run]',
    description: 'remove entries: by key, stale, old, or all',
    // what selects the key of `clear -- <command>`
    runOptions: { only: ['output', 'env', 'stdin', 'cwd', 'key', 'shell', 'dir'] },
    options: [
      { flags: '--all', description: 'every entry' },
      { flags: '--stale', description: 'the entries that are no longer fresh under the policies they were recorded with' },
      { flags: '--older-than <duration>', description: 'the entries recorded longer ago than this (e.g. 7d)' },
      { flags: '--dry-run', description: 'list what would be removed, remove nothing' },
      NO_COLOR,
    ],
  },
  gc: {
    usage: '[options]',
    description: 'free space: old, unused and least used entries',
    options: [
      DIR,
      NO_COLOR,
      { flags: '--max-size <size>', description: 'remove least recently used entries until the cache is under this size (e.g. 500M, 5G)' },
      { flags: '--max-age <duration>', description: 'remove entries that have been stale for longer than this (e.g. 30d)' },
      { flags: '--max-entries <count>', description: 'remove least recently used entries until at most this many are left (e.g. 1000)' },
      { flags: '--remote <url>', description: 'clean this shared cache instead of the cache directory: s3://, gs://, az:// or file://' },
      { flags: '--remote-timeout <duration>', description: 'how long the shared cache may take to answer one request (default: 2s)' },
    ],
  },
  verify: {
    usage: '[options]',
    description: 'hash every blob again; remove damaged ones',
    options: [DIR],
  },
  stats: {
    usage: '[options]',
    description: 'entries, size, hits, misses and time saved',
    options: [DIR, JSON_OUTPUT, NO_COLOR, { flags: '--zero', description: 'reset the statistics' }],
  },
  config: {
    usage: '[options]',
    description: 'print the settings and where each came from',
    options: [JSON_OUTPUT],
  },
  completion: {
    usage: '[options] <shell>',
    description: 'print a bash, zsh or fish completion script',
    options: [],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

// The options of run that `command` takes, in run's order.
export function runOptionsOf(command: CommandSpec, runOptions: readonly OptionSpec[] = RUN_OPTIONS): OptionSpec[] {
  const taken = command.runOptions;
  if (taken === undefined) return [];
  const named = new Set<string>('only' in taken ? taken.only : taken.except);
  return runOptions.filter((spec) => named.has(spec.key) === 'only' in taken);
}
