import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { clear } from '../commands/clear.js';
import type { CommandInputs } from '../commands/command-call.js';
import { completionScript, type CompletionSpec } from '../commands/completion.js';
import type { CacheCommandContext } from '../commands/context.js';
import { gc } from '../commands/gc.js';
import { verify } from '../commands/verify.js';
import { ls } from '../commands/ls.js';
import { show } from '../commands/show.js';
import { stats } from '../commands/stats.js';
import { EXIT_DCACHE_FAILED, ExitError } from '../core/errors.js';
import { version } from '../core/version.js';
import { COMMANDS, HELP_OPTION, runOptionsOf, VERSION_OPTION, type CommandName } from './command-options.js';
import { flagsOf, type RunCliOptions } from './run-options.js';

// The command line read by commander (help, errors with suggestions,
// every subcommand), loaded only when the quick parser of `run` gives up:
// options in, a command function called, an exit code out.

// Usage errors of `run` exit 125, as GNU env and timeout do, so that they
// cannot be mistaken for the wrapped command's own codes; other
// subcommands use 2.
export const USAGE_EXIT_RUN = EXIT_DCACHE_FAILED;

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

type CommandRunner = (command: string[], options: RunCliOptions) => Promise<number>;

export interface CacheCliOptions {
  dir?: string;
  color?: boolean;
  json?: boolean;
}

// What each subcommand does once commander has read its command line.
export interface Handlers {
  run: CommandRunner;
  status: CommandRunner;
  warm: CommandRunner;
  fetch: (source: string, options: FetchCliOptions) => Promise<number>;
  cache: <T>(options: CacheCliOptions, command: (ctx: CacheCommandContext) => Promise<T>) => Promise<T>;
  commandInputs: (command: string[], options: RunCliOptions) => Promise<CommandInputs>;
  config: (json: boolean) => Promise<number>;
}

// Where commander writes help and errors: the guarded process streams.
export interface ProgramIo {
  stdout: () => Writable;
  stderr: () => Writable;
}

export async function parseWithCommander(argv: string[], handlers: Handlers, io: ProgramIo): Promise<number> {
  const { Command, CommanderError, Option } = await import('commander');
  let exitCode = 0;
  const program = new Command('dcache')
    .description('Cache the output of shell commands on disk and replay it while a freshness policy says it is still good.')
    .version(version, VERSION_OPTION.flags, VERSION_OPTION.description)
    .helpOption(HELP_OPTION.flags, HELP_OPTION.description)
    .enablePositionalOptions()
    .showSuggestionAfterError(true);
  // A subcommand as command-options.ts declares it: its usage, its
  // description, its own options, then those of run it takes.
  const subcommand = (name: CommandName): Command => {
    const spec = COMMANDS[name];
    const target = program.command(name).description(spec.description).usage(spec.usage);
    for (const option of spec.options) target.option(option.flags, option.description);
    for (const runSpec of runOptionsOf(spec)) {
      const option = new Option(flagsOf(runSpec), runSpec.description);
      if (runSpec.repeatable) option.argParser(collect);
      // -q once, -qq (or -q -q) twice
      if (runSpec.count) option.argParser((_value: string, previous: number) => previous + 1).default(0);
      if (runSpec.key === 'verbose') option.conflicts('quiet');
      target.addOption(option);
    }
    return target;
  };

  subcommand('run')
    .argument('<command...>', 'the command to run, and its arguments')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Examples:
  dcache run --policy daily -o data/raw.csv -- ./fetch-customer-data.sh
  dcache run -p forever -w https://example.com/export.csv -o export.csv -- curl -sfo export.csv https://example.com/export.csv
  dcache run -p forever -w s3://exports/acme/customers.csv -o customers.csv -- aws s3 cp s3://exports/acme/customers.csv customers.csv
  dcache run -p forever -w 'gs://exports/acme/2026-*/*.csv' -- ./fetch-all.sh
  dcache run -p daily@06:00 --tz Europe/Paris --watch-cmd 'gsutil stat gs://bucket/export.csv' -- ./fetch.sh
  dcache run --shell -o top.txt -- 'sort big.csv | uniq -c | sort -rn | head > top.txt'
  DCACHE_NOW=2024-08-27T15:00:00 dcache run -v -- ./slow-download.sh

In a Makefile (the target comes back from the cache after make clean):
  data.csv:
  	dcache run -o data.csv -- ./fetch.sh

In a crontab (several jobs share one download a day):
  15 6 * * * cd /srv/reports && dcache run -q --stale-if-error -o raw/customers.csv -- ./fetch-customers.sh
`,
    )
    .action(async (command: string[], options: RunCliOptions) => {
      exitCode = await handlers.run(command, options);
    });

  subcommand('status')
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

  subcommand('warm')
    .argument('<command...>', 'the command, and its arguments, as given to dcache run')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Returns at once and prints nothing on stdout; the refresh runs as dcache run
would, in the background. With --force, it refreshes even a fresh entry.
For login scripts, and cron lines that prepare the data before anyone asks.

Examples:
  dcache warm -p daily -o data/raw.csv -- ./fetch-customer-data.sh
  dcache warm --force -p daily@06:00 -- ./fetch.sh
`,
    )
    .action(async (command: string[], options: RunCliOptions) => {
      exitCode = await handlers.warm(command, options);
    });

  subcommand('fetch')
    .argument('<source>', 'an object, a prefix (ending in /) or a glob of keys in s3://, gs:// or az://')
    .addHelpText(
      'after',
      `
One object goes to stdout, or to the file -o names; a prefix or a glob into
the directory -o names, its keys mirrored as paths. Each call lists the
source (with --policy, not until the period ends) and downloads only the
objects that changed; a file whose object is gone is removed, if dcache wrote
it and it was not edited since. Exit 0: done; 1: failed (the directory is as
the last whole fetch left it); 2: usage error.

Examples:
  dcache fetch s3://exports/acme/customers.csv -o data/customers.csv
  dcache fetch -v gs://exports/acme/daily/ -o data/daily
  dcache fetch -p daily@06:00 'az://exports/acme/2026-*/*.csv' -o data/acme
  dcache fetch s3://exports/acme/customers.csv | head
`,
    )
    .action(async (source: string, options: FetchCliOptions) => {
      exitCode = await handlers.fetch(source, options);
    });

  subcommand('ls')
    .addHelpText('after', '\nExamples:\n  dcache ls\n  dcache ls --json | jq -r \'.entries[] | select(.fresh | not) | .key\'\n')
    .action(async (options: CacheCliOptions & { remote?: boolean }) => {
      exitCode = await handlers.cache(options, (ctx) => ls(ctx, { json: options.json === true, remote: options.remote === true }));
    });

  subcommand('show')
    .argument('<key-prefix>', 'the start of its key (see dcache ls)')
    .addHelpText('after', '\nExamples:\n  dcache show 6161\n  dcache show --json 6161be | jq .validators\n')
    .action(async (prefix: string, options: CacheCliOptions) => {
      exitCode = await handlers.cache(options, (ctx) => show(ctx, prefix, { json: options.json === true }));
    });

  subcommand('clear')
    .argument('[selectors...]', 'key prefixes, or after -- a command as given to dcache run')
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
      const inputs = command.length > 0 ? await handlers.commandInputs(command, options) : null;
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

  subcommand('gc')
    .addHelpText(
      'after',
      `
Without options, gc removes crash debris and blobs no entry names.
A miss runs a size-only gc by itself at most once an hour (DCACHE_MAX_SIZE, default 10G).
With --remote, blobs and leases younger than a day are kept: another machine may be
writing the entry that names them.

Examples:
  dcache gc --max-size 5G
  dcache gc --max-age 30d --max-size 500M
  dcache gc --max-entries 1000
  dcache gc --remote s3://team-cache/dcache --max-age 30d
`,
    )
    .action(async (options: CacheCliOptions & { maxSize?: string; maxAge?: string; maxEntries?: string; remote?: string; remoteTimeout?: string }) => {
      exitCode = await handlers.cache(options, (ctx) => gc(ctx, options));
    });

  subcommand('verify')
    .addHelpText(
      'after',
      `
A hit hashes a blob again only when its file changed since a hit last found it
right, or a week after that. verify hashes every blob now: a damaged one is
removed with the entries that name it (their commands run again), and the
exit code is 1.

Examples:
  dcache verify
  0 4 * * 0  dcache verify >> ~/.cache/dcache-verify.log    (crontab: Sundays at 04:00)
`,
    )
    .action(async (options: CacheCliOptions) => {
      exitCode = await handlers.cache(options, (ctx) => verify(ctx));
    });

  subcommand('stats')
    .addHelpText('after', '\nExamples:\n  dcache stats\n  dcache stats --json | jq .hitRate\n')
    .action(async (options: CacheCliOptions & { zero?: boolean }) => {
      exitCode = await handlers.cache(options, (ctx) => stats(ctx, { json: options.json === true, zero: options.zero === true }));
    });

  subcommand('config')
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
      exitCode = await handlers.config(options.json === true);
    });

  subcommand('completion')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      `
Examples:
  dcache completion bash > /etc/bash_completion.d/dcache
  echo 'source <(dcache completion zsh)' >> ~/.zshrc    (after compinit)
  dcache completion fish > ~/.config/fish/completions/dcache.fish
`,
    )
    .action((shell: string) => {
      const spec: CompletionSpec = {
        commands: program.commands.map((c) => ({
          name: c.name(),
          description: c.description(),
          takesCommand: c.registeredArguments.some((a) => a.name() === 'command' && a.variadic),
          options: c.options.map((o) => ({
            short: o.short,
            long: o.long ?? '',
            takesValue: o.required || o.optional,
            repeatable: o.parseArg === collect,
            description: o.description,
          })),
        })),
      };
      io.stdout().write(completionScript(shell, spec));
      exitCode = 0;
    });

  const usageExit = argv[0] === 'run' ? USAGE_EXIT_RUN : 2;
  program.exitOverride();
  // Help and errors go through the guarded streams: a reader that has gone
  // away (dcache --help | head -1) is not an uncaught EPIPE.
  program.configureOutput({
    writeOut: (text) => io.stdout().write(text),
    writeErr: (text) => io.stderr().write(text),
    outputError: (message, write) => write(`dcache: ${oneLine(message)}${message.includes("unknown option '-v'") ? ' (did you mean -V, --version?)' : ''}\n`),
  });
  for (const sub of program.commands) {
    sub.exitOverride();
    sub.configureOutput({
      writeOut: (text) => io.stdout().write(text),
      writeErr: (text) => io.stderr().write(text),
      outputError: (message, write) => write(`dcache: ${oneLine(message)}; see 'dcache ${sub.name()} --help'\n`),
    });
  }
  // `dcache help nosuch`: commander would print the general help
  if (argv[0] === 'help' && argv[1] !== undefined && !program.commands.some((c) => c.name() === argv[1])) {
    io.stderr().write(`dcache: unknown command '${argv[1]}'; the commands are ${program.commands.map((c) => c.name()).join(', ')}\n`);
    return 2;
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

export interface FetchCliOptions {
  output?: string;
  policy?: string;
  tz?: string;
  force?: boolean;
  delete?: boolean;
  timeout?: string;
  remote?: string;
  remoteReadOnly?: boolean;
  remoteTimeout?: string;
  key?: string;
  dir?: string;
  verbose?: boolean;
  quiet?: boolean;
}

interface ClearCliOptions {
  all?: boolean;
  stale?: boolean;
  olderThan?: string;
  dryRun?: boolean;
}

// commander's message as one line: "unknown option '--polcy' (did you mean --policy?)"
function oneLine(message: string): string {
  return message
    .replace(/^error: /, '')
    .trimEnd()
    .replace(/\n\(Did you mean (.+)\?\)$/, ' (did you mean $1?)');
}
