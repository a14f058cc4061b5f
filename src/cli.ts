import { homedir } from 'node:os';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { parseInstant } from './clock.js';
import { run } from './commands/run.js';
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

export async function main(argv: string[]): Promise<number> {
  const env = process.env;
  let output = new Output(stderr, 'normal', env);
  const runFromCli = async (command: string[], options: RunCliOptions): Promise<number> => {
    const verbosity: Verbosity = options.verbose ? 'verbose' : options.quiet ? 'quiet' : 'normal';
    output = new Output(stderr, verbosity, env);
    return run({
      command,
      options: {
        policy: options.policy ?? [],
        force: options.force === true,
        cacheFailures: options.cacheFailures === true,
        dir: options.dir,
        output: options.output ?? [],
        env: options.env ?? [],
        stdin: options.stdin === true,
        cwd: options.cwd !== false,
        key: options.key,
        shell: options.shell === true,
      },
      cwd: process.cwd(),
      home: homedir(),
      env,
      now: readNow(env),
      stdin: () => process.stdin,
      stdout,
      stderr,
      output,
    });
  };
  try {
    // The common `run` command lines are read without commander, which a
    // cache hit would otherwise spend a large share of its time loading.
    const quick = quickParseRun(argv);
    if (quick) return await runFromCli(quick.command, quick.options);
    return await parseWithCommander(argv, runFromCli);
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

async function parseWithCommander(
  argv: string[],
  runFromCli: (command: string[], options: RunCliOptions) => Promise<number>,
): Promise<number> {
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
  DCACHE_NOW=2024-08-27T15:00:00 dcache run -v -- ./slow-download.sh
`,
    )
    .action(async (command: string[], options: RunCliOptions) => {
      exitCode = await runFromCli(command, options);
    });
  for (const spec of RUN_OPTIONS) {
    const option = new Option(flagsOf(spec), spec.description);
    if (spec.repeatable) option.argParser(collect);
    if (spec.key === 'verbose') option.conflicts('quiet');
    runCommand.addOption(option);
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

// The clock: DCACHE_NOW when set (tests, and users checking a policy), else now.
function readNow(env: NodeJS.ProcessEnv): number {
  const text = env.DCACHE_NOW;
  if (text === undefined || text === '') return Date.now();
  const parsed = parseInstant(text);
  if (!parsed.ok) throw new ExitError(`DCACHE_NOW: ${parsed.error}`, EXIT_DCACHE_FAILED);
  return parsed.value;
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
