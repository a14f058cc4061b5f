import { homedir } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { parseInstant } from './clock.js';
import { run, type RunOptions } from './commands/run.js';
import { EXIT_DCACHE_FAILED, ExitError } from './errors.js';
import { POLICY_HELP } from './policy.js';
import { Output, wantsColour, type Verbosity } from './output.js';
import { version } from './version.js';

// Commander wiring only: options in, a command function called, an exit code out.

// Usage errors of `run` exit 125, as GNU env and timeout do, so that they
// cannot be mistaken for the wrapped command's own codes; other
// subcommands use 2.
const USAGE_EXIT_RUN = EXIT_DCACHE_FAILED;

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function buildProgram(onRun: (command: string[], options: RunCliOptions) => Promise<void>): Command {
  const program = new Command('dcache')
    .description('Cache the output of shell commands on disk and replay it while a freshness policy says it is still good.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .enablePositionalOptions()
    .showSuggestionAfterError(true);

  program
    .command('run')
    .description('run a command, or replay its recorded output while it is fresh')
    .usage('[options] -- <command> [args...]')
    .argument('<command...>', 'the command to run, and its arguments')
    .option('-p, --policy <spec>', `freshness policy, repeatable, all must hold: ${POLICY_HELP} (default: daily)`, collect)
    .option('-f, --force', 'run and record even if a fresh entry exists')
    .option('--cache-failures', 'record non-zero exits too (default: only exit 0 is recorded)')
    .option('-o, --output <path>', 'a file or directory the command writes, repeatable: captured after exit 0, restored on a hit', collect)
    .option('-e, --env <name>', 'an environment variable (or a glob such as AWS_*) whose value is part of the key, repeatable', collect)
    .option('--stdin', 'read all of standard input, make its hash part of the key, and feed it to the command')
    .option('--no-cwd', 'leave the working directory out of the key')
    .option('--key <text>', 'extra text mixed into the key (a namespace)')
    .option('--shell', 'run the single command string through /bin/sh -c (pipelines, redirections)')
    .option('--dir <path>', 'cache directory (default: $DCACHE_DIR, $XDG_CACHE_HOME/dcache or ~/.cache/dcache)')
    .addOption(new Option('-v, --verbose', "say on stderr whether it was a hit or a miss, and why").conflicts('quiet'))
    .addOption(new Option('-q, --quiet', "print nothing of dcache's own but errors"))
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
    .action((command: string[], options: RunCliOptions) => onRun(command, options));

  return program;
}

interface RunCliOptions {
  policy?: string[];
  output?: string[];
  env?: string[];
  stdin?: boolean;
  cwd: boolean;
  key?: string;
  shell?: boolean;
  force?: boolean;
  cacheFailures?: boolean;
  dir?: string;
  verbose?: boolean;
  quiet?: boolean;
}

export async function main(argv: string[]): Promise<number> {
  const env = process.env;
  let exitCode = 0;
  let output = new Output(process.stderr, 'normal', wantsColour(process.stderr, env));
  const program = buildProgram(async (command, options) => {
    const verbosity: Verbosity = options.verbose ? 'verbose' : options.quiet ? 'quiet' : 'normal';
    output = new Output(process.stderr, verbosity, wantsColour(process.stderr, env));
    const runOptions: RunOptions = {
      policy: options.policy ?? [],
      force: options.force === true,
      cacheFailures: options.cacheFailures === true,
      dir: options.dir,
      output: options.output ?? [],
      env: options.env ?? [],
      stdin: options.stdin === true,
      cwd: options.cwd,
      key: options.key,
      shell: options.shell === true,
    };
    exitCode = await run({
      command,
      options: runOptions,
      cwd: process.cwd(),
      home: homedir(),
      env,
      now: readNow(env),
      // a getter: touching process.stdin costs start-up time that a run without --stdin need not pay
      stdin: () => process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      output,
    });
  });
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
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return 2;
      return usageExit;
    }
    if (err instanceof ExitError) {
      output.error(err.message);
      return err.exitCode;
    }
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    output.error(`internal error, please report it: ${detail}`);
    return EXIT_DCACHE_FAILED;
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

// A reader that closes our stdout or stderr early gets no EPIPE noise; the
// code writing to the stream sees the failure through its write callback.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
