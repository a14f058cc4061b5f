import { closeSync, openSync, readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { resolveCacheDir } from '../store/local/cache-dir.js';
import { LocalStore } from '../store/local/local-store.js';
import { LOCAL_ZONE, parseInstant } from '../policy/clock.js';
import { clear } from '../commands/clear.js';
import { completionScript, type CompletionSpec } from '../commands/completion.js';
import type { CacheCommandContext } from '../commands/context.js';
import { gc } from '../commands/gc.js';
import { ls } from '../commands/ls.js';
import { run } from '../commands/run.js';
import { show } from '../commands/show.js';
import { stats } from '../commands/stats.js';
import { status } from '../commands/status.js';
import type { PlanInputs, RunOptions } from '../engine/call.js';
import { checkSettings, loadSettings, SETTING_NAMES, type Settings } from './settings.js';
import { redactCredentials } from '../redact.js';
import { EXIT_DCACHE_FAILED, ExitError } from '../errors.js';
import { Output, type Verbosity } from '../terminal/messages.js';
import { flagsOf, quickParseRun, RUN_OPTIONS, type RunCliOptions } from './run-options.js';
import { version } from '../version.js';
import { escapeControls } from '../terminal/text.js';
import { processInterrupts } from '../process/signals.js';
import type { LockIdentity } from '../store/local/lock.js';

// Commander wiring only: options in, a command function called, an exit code out.

// Usage errors of `run` exit 125, as GNU env and timeout do, so that they
// cannot be mistaken for the wrapped command's own codes; other
// subcommands use 2.
const USAGE_EXIT_RUN = EXIT_DCACHE_FAILED;

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

// The process streams, created on first use with an error listener, so that
// a reader closing the pipe early is an EPIPE the writer sees through its
// write callback, never an uncaught exception.
let stdoutStream: Writable | undefined;
let stderrStream: Writable | undefined;
const stdout = (): Writable => (stdoutStream ??= process.stdout.on('error', () => {}));
const stderr = (): Writable & { isTTY?: boolean } => (stderrStream ??= process.stderr.on('error', () => {}));

// Closes descriptor 1 and puts /dev/null in its place (the lowest free
// descriptor is taken), so that nothing else is ever opened as 1. Only when
// process.stdout was never created: its handle would still point at 1.
function closeStdout(): void {
  if (stdoutStream !== undefined) return;
  try {
    closeSync(1);
  } catch {
    return;
  }
  for (let tries = 0; tries < 3; tries++) {
    const fd = openSync('/dev/null', 'w');
    if (fd === 1) return;
    // 0 was closed too: keep /dev/null there and open again for 1
    if (fd > 1) return closeSync(fd);
  }
}

// The options of run and status, from the command line to what the
// commands take.
// Flags win over the settings (environment, then configuration files).
function toRunOptions(options: RunCliOptions, settings: Settings): RunOptions {
  return {
    policy: options.policy ?? settings.policy.value,
    tz: options.tz ?? settings.tz.value ?? undefined,
    force: options.force === true,
    cacheFailures: options.cacheFailures === true,
    staleIfError: options.staleIfError === true,
    dir: options.dir ?? settings.dir.value,
    output: options.output ?? [],
    env: options.env ?? [],
    stdin: options.stdin === true,
    cwd: options.cwd !== false,
    key: options.key,
    shell: options.shell === true,
    watch: options.watch ?? [],
    watchCmd: options.watchCmd ?? [],
    watchTimeout: options.watchTimeout,
    explain: options.explain === true,
    remote: options.remote ?? settings.remote.value ?? undefined,
    remoteReadOnly: options.remoteReadOnly === true,
    remoteTimeout: options.remoteTimeout,
    maxSize: settings.maxSize.value,
    signingKeyFile: settings.signingKeyFile.value,
  };
}

type CommandRunner = (command: string[], options: RunCliOptions) => Promise<number>;

interface CacheCliOptions {
  dir?: string;
  color?: boolean;
  json?: boolean;
}

// What each subcommand does once commander has read its command line.
interface Handlers {
  run: CommandRunner;
  status: CommandRunner;
  cache: <T>(options: CacheCliOptions, command: (ctx: CacheCommandContext) => Promise<T>) => Promise<T>;
  planInputs: (command: string[], options: RunCliOptions) => Promise<PlanInputs>;
  settings: (mode: SettingsMode) => Promise<Settings>;
}

// How settings from the environment and the config files are held to
// account. `strict` (dcache config): the first problem is a usage error.
// `run` (run, status, clear --): each bad value is warned about once and
// its default used, since the cache is never the reason a job fails. `dir`
// (ls, show, gc, stats, clear): only the cache directory is used; problems
// with the files are warned about, the other values are not looked at.
type SettingsMode = 'strict' | 'run' | 'dir';

export async function main(argv: string[]): Promise<number> {
  const env = process.env;
  const identity: LockIdentity = { host: hostname(), pid: process.pid, wallNow: () => Date.now(), isRunning };
  const interrupts = processInterrupts((code) => process.exit(code));
  let output = new Output(stderr, 'normal', env);
  const settings = async (mode: SettingsMode): Promise<Settings> => {
    const loaded = loadSettings(process.cwd(), env, homedir());
    const checked = mode === 'dir' ? { settings: loaded.settings, problems: [] } : await checkSettings(loaded.settings);
    const problems = [...loaded.problems, ...checked.problems];
    if (mode === 'strict' && problems.length > 0) throw new ExitError(problems[0]!, 2);
    for (const problem of problems) output.warnOnce(`setting:${problem}`, `${problem}; ignored`);
    return checked.settings;
  };
  const planInputs = async (command: string[], options: RunCliOptions): Promise<PlanInputs> => {
    const verbosity: Verbosity = options.verbose ? 'verbose' : options.quiet ? 'quiet' : 'normal';
    output = new Output(stderr, verbosity, env);
    return {
      command,
      options: toRunOptions(options, await settings('run')),
      cwd: process.cwd(),
      home: homedir(),
      env,
      nowText: env.DCACHE_NOW,
      stdin: () => process.stdin,
      identity,
    };
  };
  const handlers: Handlers = {
    run: async (command, options) =>
      run({ ...(await planInputs(command, options)), stdout, stderr, output, interrupts, closeStdout }),
    status: async (command, options) =>
      status({ ...(await planInputs(command, options)), print: (line) => stdout().write(`${line}\n`), output }),
    cache: async (options, command) => {
      const dir = options.dir !== undefined ? resolveCacheDir(options.dir, env, homedir(), process.cwd()) : null;
      if (dir && !dir.ok) throw new ExitError(dir.error, 2);
      let now = Date.now();
      if (env.DCACHE_NOW) {
        const parsed = parseInstant(env.DCACHE_NOW, LOCAL_ZONE);
        if (!parsed.ok) throw new ExitError(`DCACHE_NOW: ${parsed.error}`, 2);
        now = parsed.value;
      }
      const where = dir?.value ?? (await settings('dir')).dir.value;
      const unusable = new LocalStore(where).unusable();
      if (unusable !== null) throw new ExitError(unusable, 2);
      return command({ dir: where, now, env, stdout: stdout(), output, colour: options.color !== false });
    },
    planInputs,
    settings,
  };
  try {
    const mangled = findMangledArgument(argv);
    if (mangled !== null) {
      throw new ExitError(
        `argument ${mangled.index + 1} (${mangled.shown}) is not valid UTF-8: dcache cannot pass it on, or key it, exactly as given`,
        argv[0] === 'run' ? USAGE_EXIT_RUN : 2,
      );
    }
    // The common `run` command lines are read without commander, which a
    // cache hit would otherwise spend a large share of its time loading.
    const quick = quickParseRun(argv);
    if (quick) return await handlers.run(quick.command, quick.options);
    return await parseWithCommander(argv, handlers);
  } catch (err) {
    if (err instanceof ExitError) {
      output.error(err.message);
      return err.exitCode;
    }
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    output.error(`internal error, please report it: ${detail}`);
    return EXIT_DCACHE_FAILED;
  }
}

async function parseWithCommander(argv: string[], handlers: Handlers): Promise<number> {
  const { Command, CommanderError, Option } = await import('commander');
  let exitCode = 0;
  const program = new Command('dcache')
    .description('Cache the output of shell commands on disk and replay it while a freshness policy says it is still good.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .enablePositionalOptions()
    .showSuggestionAfterError(true);
  const addRunOptions = (target: Command) => {
    for (const spec of RUN_OPTIONS) {
      const option = new Option(flagsOf(spec), spec.description);
      if (spec.repeatable) option.argParser(collect);
      if (spec.key === 'verbose') option.conflicts('quiet');
      target.addOption(option);
    }
  };
  const cacheOptions = (target: Command, json: boolean) => {
    target.option('--dir <path>', 'cache directory (default: $DCACHE_DIR, $XDG_CACHE_HOME/dcache or ~/.cache/dcache)');
    if (json) target.option('--json', 'machine-readable output (a versioned, stable format)');
    return target.option('--no-color', 'no colour, even on a terminal');
  };

  const runCommand: Command = program
    .command('run')
    .description('run a command, or replay its fresh output')
    .usage('[options] -- <command> [args...]')
    .argument('<command...>', 'the command to run, and its arguments')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Examples:
  dcache run --policy daily -o data/raw.csv -- ./fetch-customer-data.sh
  dcache run -p forever -w https://example.com/export.csv -o export.csv -- curl -sfo export.csv https://example.com/export.csv
  dcache run -p daily@06:00 --tz Europe/Paris --watch-cmd 'gsutil stat gs://bucket/export.csv' -- ./fetch.sh
  dcache run --shell -o top.txt -- 'sort big.csv | uniq -c | sort -rn | head > top.txt'
  DCACHE_NOW=2024-08-27T15:00:00 dcache run -v -- ./slow-download.sh

In a Makefile (the target comes back from the cache after make clean):
  data.csv:
  	dcache run -o data.csv -- ./fetch.sh

In a crontab (several jobs share one download a day):
  15 6 * * * cd /srv/reports && dcache run -q -o raw/customers.csv -- ./fetch-customers.sh
`,
    )
    .action(async (command: string[], options: RunCliOptions) => {
      exitCode = await handlers.run(command, options);
    });
  addRunOptions(runCommand);

  const statusCommand: Command = program
    .command('status')
    .description('would run replay (0) or run (1)? and why')
    .usage('[run options] -- <command> [args...]')
    .argument('<command...>', 'the command, and its arguments, as given to dcache run')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Examples:
  dcache status -- ./fetch-customer-data.sh && echo "cached for today"
  dcache status --explain -p daily@06:00 -w data/input.csv -- ./build-report.sh
`,
    )
    .action(async (command: string[], options: RunCliOptions) => {
      exitCode = await handlers.status(command, options);
    });
  addRunOptions(statusCommand);

  cacheOptions(program.command('ls').description('list the entries in the cache'), true)
    .option('--remote', 'show how many hits came from the remote cache')
    .addHelpText('after', '\nExamples:\n  dcache ls\n  dcache ls --json | jq -r \'.entries[] | select(.fresh | not) | .key\'\n')
    .action(async (options: CacheCliOptions & { remote?: boolean }) => {
      exitCode = await handlers.cache(options, (ctx) => ls(ctx, { json: options.json === true, remote: options.remote === true }));
    });

  cacheOptions(
    program
      .command('show')
      .description('show everything about one entry')
      .argument('<key-prefix>', 'the start of its key (see dcache ls)')
      .addHelpText('after', '\nExamples:\n  dcache show 6161\n  dcache show --json 6161be | jq .validators\n'),
    true,
  ).action(async (prefix: string, options: CacheCliOptions) => {
    exitCode = await handlers.cache(options, (ctx) => show(ctx, prefix, { json: options.json === true }));
  });

  const clearCommand: Command = program
    .command('clear')
    .description('remove entries: by key, stale, old, or all')
    .usage('(<key-prefix>... | --all | --stale | --older-than <duration> | [run options] -- <command>...) [--dry-run]')
    .argument('[selectors...]', 'key prefixes, or after -- a command as given to dcache run')
    .option('--all', 'every entry')
    .option('--stale', 'the entries that are no longer fresh under the policies they were recorded with')
    .option('--older-than <duration>', 'the entries recorded longer ago than this (e.g. 7d)')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--no-color', 'no colour, even on a terminal')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Examples:
  dcache clear --stale
  dcache clear --older-than 30d --dry-run
  dcache clear -o data.csv -- ./fetch.sh     # the entry dcache run -o data.csv -- ./fetch.sh uses
`,
    )
    .action(async (selectors: string[], options: RunCliOptions & CacheCliOptions & ClearCliOptions) => {
      const dashdash = argv.indexOf('--');
      const command = dashdash === -1 ? [] : argv.slice(dashdash + 1);
      const prefixes = selectors.slice(0, selectors.length - command.length);
      if (dashdash !== -1 && command.length === 0) throw new ExitError('clear --: give the command after --', 2);
      const inputs = command.length > 0 ? await handlers.planInputs(command, options) : null;
      exitCode = await handlers.cache(options, (ctx) =>
        clear(ctx, {
          prefixes,
          all: options.all === true,
          stale: options.stale === true,
          olderThan: options.olderThan,
          command: inputs,
          dryRun: options.dryRun === true,
        }),
      );
    });
  addRunOptions(clearCommand);

  cacheOptions(program.command('gc').description('free space: old, unused and least used entries'), false)
    .option('--max-size <size>', 'remove least recently used entries until the cache is under this size (e.g. 500M, 5G)')
    .option('--max-age <duration>', 'remove entries that have been stale for longer than this (e.g. 30d)')
    .addHelpText(
      'after',
      `
Without options, gc removes crash debris and blobs no entry names.
A miss runs a size-only gc by itself at most once an hour (DCACHE_MAX_SIZE, default 10G).

Examples:
  dcache gc --max-size 5G
  dcache gc --max-age 30d --max-size 500M
`,
    )
    .action(async (options: CacheCliOptions & { maxSize?: string; maxAge?: string }) => {
      exitCode = await handlers.cache(options, (ctx) => gc(ctx, options));
    });

  cacheOptions(program.command('stats').description('entries, size, hits, misses and time saved'), true)
    .option('--zero', 'reset the statistics')
    .addHelpText('after', '\nExamples:\n  dcache stats\n  dcache stats --json | jq .hitRate\n')
    .action(async (options: CacheCliOptions & { zero?: boolean }) => {
      exitCode = await handlers.cache(options, (ctx) => stats(ctx, { json: options.json === true, zero: options.zero === true }));
    });

  program
    .command('config')
    .description('print the settings and where each came from')
    .option('--json', 'machine-readable output (a versioned, stable format)')
    .addHelpText(
      'after',
      `
Settings come from, first to last: flags, environment variables (DCACHE_DIR,
DCACHE_REMOTE, DCACHE_MAX_SIZE, DCACHE_SIGNING_KEY_FILE), the nearest
.dcache.json at or above the working directory,
$XDG_CONFIG_HOME/dcache/config.json (~/.config/dcache/config.json).
A signing key may also be given itself, in DCACHE_SIGNING_KEY.

Example .dcache.json:
  { "policy": ["daily@06:00"], "tz": "Europe/Paris", "remote": "redis://cache:6379", "maxSize": "5G" }

Examples:
  dcache config
  dcache config --json | jq -r .settings.dir.value
`,
    )
    .action(async (options: { json?: boolean }) => {
      const current = await handlers.settings('strict');
      const out = stdout();
      if (options.json) {
        const remote = current.remote.value === null ? null : redactCredentials(current.remote.value);
        const settings = { ...current, remote: { ...current.remote, value: remote } };
        out.write(`${JSON.stringify({ version: 1, settings }, null, 2)}\n`);
      } else {
        const shown = (name: (typeof SETTING_NAMES)[number]) => {
          const value = current[name].value;
          if (value === null) return name === 'tz' ? '(TZ, or the system zone)' : '(none)';
          if (Array.isArray(value)) return value.length > 0 ? value.join(', ') : 'daily';
          return name === 'remote' ? redactCredentials(value) : value;
        };
        for (const name of SETTING_NAMES) out.write(`${name.padEnd(8)} ${shown(name).padEnd(40)} ${current[name].source}\n`);
      }
      exitCode = 0;
    });

  program
    .command('completion')
    .description('print a bash, zsh or fish completion script')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      `
Examples:
  dcache completion bash > /etc/bash_completion.d/dcache
  echo 'source <(dcache completion zsh)' >> ~/.zshrc
  dcache completion fish > ~/.config/fish/completions/dcache.fish
`,
    )
    .action((shell: string) => {
      const spec: CompletionSpec = {
        commands: program.commands.map((c) => ({
          name: c.name(),
          description: c.description(),
          options: c.options.map((o) => ({ short: o.short, long: o.long ?? '', takesValue: o.required || o.optional })),
        })),
      };
      stdout().write(completionScript(shell, spec));
      exitCode = 0;
    });

  const usageExit = argv[0] === 'run' ? USAGE_EXIT_RUN : 2;
  program.exitOverride();
  // Help and errors go through the guarded streams: a reader that has gone
  // away (dcache --help | head -1) is not an uncaught EPIPE.
  program.configureOutput({
    writeOut: (text) => stdout().write(text),
    writeErr: (text) => stderr().write(text),
    outputError: (message, write) => write(`dcache: ${message.replace(/^error: /, '').trimEnd()}\n`),
  });
  for (const sub of program.commands) {
    sub.exitOverride();
    sub.configureOutput({
      writeOut: (text) => stdout().write(text),
      writeErr: (text) => stderr().write(text),
      outputError: (message, write) =>
        write(`dcache: ${message.replace(/^error: /, '').trimEnd()} (see 'dcache ${sub.name()} --help')\n`),
    });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    // `dcache help` asked for help (0); a bare `dcache` is a usage error (2).
    if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
    if (err.code === 'commander.executeSubCommandAsync') return 2;
    return usageExit;
  }
}

// Node decodes arguments as UTF-8 and replaces bytes that are not with
// U+FFFD, so a command would get, and be keyed by, other bytes than those
// given. Where the kernel shows the exact bytes (Linux's /proc/self/cmdline)
// they decide; elsewhere any U+FFFD is taken for a replaced byte.
function findMangledArgument(argv: string[]): { index: number; shown: string } | null {
  if (!argv.some((arg) => arg.includes('\uFFFD'))) return null;
  let raw: Buffer[] | null = null;
  try {
    const parts = splitNul(readFileSync('/proc/self/cmdline'));
    if (parts.length >= argv.length) raw = parts.slice(parts.length - argv.length);
  } catch {
    // not Linux
  }
  for (const [index, arg] of argv.entries()) {
    if (!arg.includes('\uFFFD')) continue;
    const bytes = raw?.[index];
    if (bytes !== undefined && Buffer.from(arg, 'utf8').equals(bytes)) continue;
    return { index, shown: bytes === undefined ? escapeControls(arg) : showBytes(bytes) };
  }
  return null;
}

function splitNul(buffer: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < buffer.length; i++) {
    if (buffer[i] === 0) {
      parts.push(buffer.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < buffer.length) parts.push(buffer.subarray(start));
  return parts;
}

// Bytes as $'…' would write them: printable ASCII as is, the rest as \xHH.
function showBytes(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x27 && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `$'${text}'`;
}

// Whether a process of this host runs (EPERM: it does, as another user).
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface ClearCliOptions {
  all?: boolean;
  stale?: boolean;
  olderThan?: string;
  dryRun?: boolean;
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
