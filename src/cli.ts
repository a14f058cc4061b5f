import { homedir } from 'node:os';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { run } from './commands/run.js';
import { status } from './commands/status.js';
import type { RunOptions } from './plan.js';
import { EXIT_DCACHE_FAILED, ExitError } from './errors.js';
import { Output, type Verbosity } from './output.js';
import { flagsOf, quickParseRun, RUN_OPTIONS, type RunCliOptions } from './run-options.js';
import { version } from './version.js';

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

// The options of run and status, from the command line to what the
// commands take.
function toRunOptions(options: RunCliOptions): RunOptions {
  return {
    policy: options.policy ?? [],
    tz: options.tz,
    force: options.force === true,
    cacheFailures: options.cacheFailures === true,
    staleIfError: options.staleIfError === true,
    dir: options.dir,
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
  };
}

type CommandRunner = (command: string[], options: RunCliOptions) => Promise<number>;

export async function main(argv: string[]): Promise<number> {
  const env = process.env;
  let output = new Output(stderr, 'normal', env);
  const planInputs = (command: string[], options: RunCliOptions) => {
    const verbosity: Verbosity = options.verbose ? 'verbose' : options.quiet ? 'quiet' : 'normal';
    output = new Output(stderr, verbosity, env);
    return {
      command,
      options: toRunOptions(options),
      cwd: process.cwd(),
      home: homedir(),
      env,
      nowText: env.DCACHE_NOW,
      stdin: () => process.stdin,
    };
  };
  const runFromCli: CommandRunner = (command, options) =>
    run({ ...planInputs(command, options), stdout, stderr, output });
  const statusFromCli: CommandRunner = (command, options) =>
    status({ ...planInputs(command, options), print: (line) => stdout().write(`${line}\n`), output });
  try {
    // The common `run` command lines are read without commander, which a
    // cache hit would otherwise spend a large share of its time loading.
    const quick = quickParseRun(argv);
    if (quick) return await runFromCli(quick.command, quick.options);
    return await parseWithCommander(argv, runFromCli, statusFromCli);
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

async function parseWithCommander(argv: string[], runFromCli: CommandRunner, statusFromCli: CommandRunner): Promise<number> {
  const { Command, CommanderError, Option } = await import('commander');
  let exitCode = 0;
  const program = new Command('dcache')
    .description('Cache the output of shell commands on disk and replay it while a freshness policy says it is still good.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .enablePositionalOptions()
    .showSuggestionAfterError(true);

  const runCommand: Command = program
    .command('run')
    .description('run a command, or replay its recorded output while it is fresh')
    .usage('[options] -- <command> [args...]')
    .argument('<command...>', 'the command to run, and its arguments')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Examples:
  dcache run --policy daily -o data/raw.csv -- ./fetch-customer-data.sh
  dcache run --shell -o export.csv.gz -- 'curl -sf https://example.com/export.csv | gzip > export.csv.gz'
  dcache run -p ttl:6h -- curl -sf https://example.com/export.json
  dcache run -p daily@06:00 --tz Europe/Paris -w https://example.com/export.csv -o export.csv -- ./fetch.sh
  dcache run --watch-cmd 'gsutil stat gs://bucket/export.csv' -p forever -- ./fetch.sh
  DCACHE_NOW=2024-08-27T15:00:00 dcache run -v -- ./slow-download.sh
`,
    )
    .action(async (command: string[], options: RunCliOptions) => {
      exitCode = await runFromCli(command, options);
    });
  const statusCommand: Command = program
    .command('status')
    .description('say whether dcache run would replay (exit 0) or run the command (exit 1), and why')
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
      exitCode = await statusFromCli(command, options);
    });
  for (const target of [runCommand, statusCommand]) {
    for (const spec of RUN_OPTIONS) {
      const option = new Option(flagsOf(spec), spec.description);
      if (spec.repeatable) option.argParser(collect);
      if (spec.key === 'verbose') option.conflicts('quiet');
      target.addOption(option);
    }
  }

  const usageExit = argv[0] === 'run' ? USAGE_EXIT_RUN : 2;
  program.exitOverride();
  program.configureOutput({
    outputError: (message, write) => write(`dcache: ${message.replace(/^error: /, '').trimEnd()}\n`),
  });
  for (const sub of program.commands) {
    sub.exitOverride();
    sub.configureOutput({
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
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return 2;
    return usageExit;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
