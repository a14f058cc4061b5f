import { closeSync, openSync, readFileSync } from 'node:fs';
import { parseDocument } from '../core/json-document.js';
import { homedir } from 'node:os';
import type { Writable } from 'node:stream';
import type { CommandInputs } from '../commands/command-call.js';
import { config } from '../commands/config.js';
import { fetch } from '../commands/fetch.js';
import { run } from '../commands/run.js';
import { status } from '../commands/status.js';
import { warm } from '../commands/warm.js';
import { REFRESH_VARIABLE } from '../setup/prepare-call.js';
import { EXIT_DCACHE_FAILED, ExitError, isSystemError } from '../core/errors.js';
import { LOCAL_ZONE, parseInstant } from '../policy/clock.js';
import { resolveCacheDir } from '../store/local/cache-dir.js';
import { DEFAULT_MAX_SIZE } from '../store/local/gc.js';
import { LocalStore } from '../store/local/local-store.js';
import { parseSize } from '../core/size.js';
import { Messages, type Verbosity } from '../terminal/messages.js';
import { findMangledArgument } from './arguments.js';
import { processInterrupts } from './interrupts.js';
import { processHost } from '../setup/process-host.js';
import type { Handlers } from './program.js';
import { USAGE_EXIT_RUN } from './program.js';
import { looksLikeRunOption, quickParseRun, runArgv, toRunOptions, type RunCliOptions } from './run-options.js';
import { checkSettings, loadSettings, type Settings } from '../setup/settings.js';

// The CLI shell: the only place that reads process.* (argv, the
// environment, the working directory, the streams, signals) and the real
// clock. Everything below takes them as arguments.

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

// Starts `dcache <argv>` as a background refresh (see RunContext). Its
// command line is `dcache refresh`; the arguments go through a pipe on its
// descriptor 3 (REFRESH_ARGS_FD), never on a command line, which every
// user of the machine can read (ps): a --remote URL may hold a password.
async function spawnRefresh(argv: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const { spawn } = await import('node:child_process');
  try {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, REFRESH_COMMAND], {
      cwd: process.cwd(),
      env: { ...env, [REFRESH_VARIABLE]: '1' },
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    });
    child.on('error', () => {});
    const pipe = child.stdio[REFRESH_ARGS_FD] as Writable | null;
    pipe?.on('error', () => {});
    pipe?.end(JSON.stringify(argv));
    child.unref();
    (pipe as { unref?: () => void } | null)?.unref?.();
    return child.pid ?? null;
  } catch {
    return null;
  }
}

// The refresh's own command line, and the descriptor its arguments come on.
const REFRESH_COMMAND = 'refresh';
const REFRESH_ARGS_FD = 3;

// The arguments of a background refresh, read from its descriptor 3 (see
// spawnRefresh), which is then closed: the command it runs does not get it.
function refreshArguments(env: NodeJS.ProcessEnv): string[] {
  const refused = new ExitError('dcache refresh is started by dcache itself, for --stale-while-revalidate and warm', 2);
  if (env[REFRESH_VARIABLE] !== '1') throw refused;
  let text: string;
  try {
    text = readFileSync(REFRESH_ARGS_FD, 'utf8');
    closeSync(REFRESH_ARGS_FD);
  } catch {
    throw refused;
  }
  const parsed = parseDocument(text, { maxLength: 1 << 20, maxDepth: 1 });
  if (!parsed.ok || !Array.isArray(parsed.value) || !parsed.value.every((a) => typeof a === 'string') || parsed.value[0] !== 'run') throw refused;
  return parsed.value as string[];
}

// How settings from the environment and the config files are held to
// account. `strict` (dcache config): the first problem is a usage error.
// `run` (run, status, clear --): each bad value is warned about once and
// its default used, since the cache is never the reason a job fails. `dir`
// (ls, show, gc, stats, clear): only the cache directory is used; problems
// with the files are warned about, the other values are not looked at.
type SettingsMode = 'strict' | 'run' | 'dir';

export async function main(argv: string[]): Promise<number> {
  // The commands get a copy of the environment; dcache's own keeps no
  // DEBUG, which the Redis client would otherwise obey, printing every
  // command it sends (passwords included) on the command's stderr.
  const env = { ...process.env };
  delete process.env.DEBUG;
  // Node prints process warnings on stderr, which belongs to the command; a
  // library's warning (the AWS SDK's about this Node version) is not
  // dcache's to say there.
  process.removeAllListeners('warning');
  const host = processHost();
  const interrupts = processInterrupts((code) => process.exit(code));
  let messages = new Messages(stderr, 'normal', env);
  // The working directory, which a shell left in a removed directory no
  // longer has: one line, not a stack trace.
  const workingDirectory = (): string => {
    try {
      return process.cwd();
    } catch (err) {
      if (!isSystemError(err) || err.code !== 'ENOENT') throw err;
      throw new ExitError('the working directory no longer exists (it was removed or renamed); cd to one that does', argv[0] === 'run' ? USAGE_EXIT_RUN : 2);
    }
  };
  const settings = async (mode: SettingsMode): Promise<Settings> => {
    const loaded = loadSettings(workingDirectory(), env, homedir());
    const checked = mode === 'dir' ? { settings: loaded.settings, problems: [] } : await checkSettings(loaded.settings);
    const problems = [...loaded.problems, ...checked.problems];
    if (mode === 'strict' && problems.length > 0) throw new ExitError(problems[0]!, 2);
    for (const problem of problems) messages.warnOnce(`setting:${problem}`, `${problem}; ignored`);
    return checked.settings;
  };
  const commandInputs = async (command: string[], options: RunCliOptions): Promise<CommandInputs> => {
    const quiet = options.quiet ?? 0;
    const verbosity: Verbosity = options.verbose ? 'verbose' : quiet >= 2 ? 'silent' : quiet === 1 ? 'quiet' : 'normal';
    messages = new Messages(stderr, verbosity, env);
    // `dcache run ./fetch.sh -p ttl:1h`: -p is the command's; say so, once
    const stray = argv.includes('--') ? undefined : command.slice(1).find(looksLikeRunOption);
    if (stray !== undefined) {
      messages.warnOnce(
        'after-command',
        `'${stray}' comes after the command, so it is passed to ${command[0]}, not read by dcache; ` +
          "put dcache's options before the command (and -- between them to say so)",
      );
    }
    return {
      command,
      options: toRunOptions(options, await settings('run')),
      cwd: workingDirectory(),
      home: homedir(),
      env,
      nowText: env.DCACHE_NOW,
      stdin: () => process.stdin,
      host,
    };
  };
  // A background refresh is given the options as typed, not the settings'
  // values (DCACHE_REMOTE may hold a password): it reads those itself.
  const refresh = (command: string[], options: RunCliOptions) => spawnRefresh(runArgv(options, command), env);
  const handlers: Handlers = {
    run: async (command, options) =>
      run({ ...(await commandInputs(command, options)), stdout, stderr, reporter: messages, interrupts, closeStdout, spawnRefresh: () => refresh(command, options) }),
    warm: async (command, options) => warm({ ...(await commandInputs(command, options)), reporter: messages, spawnRefresh: () => refresh(command, options) }),
    status: async (command, options) =>
      status({ ...(await commandInputs(command, options)), print: (line) => stdout().write(`${line}\n`), reporter: messages }),
    cache: async (options, command) => {
      const dir = options.dir !== undefined ? resolveCacheDir(options.dir, env, homedir(), workingDirectory()) : null;
      if (dir && !dir.ok) throw new ExitError(dir.error, 2);
      let now = host.wallNow();
      if (env.DCACHE_NOW) {
        const parsed = parseInstant(env.DCACHE_NOW, LOCAL_ZONE);
        if (!parsed.ok) throw new ExitError(`DCACHE_NOW: ${parsed.error}`, 2);
        now = parsed.value;
      }
      const loaded = await settings('dir');
      const where = dir?.value ?? loaded.dir.value;
      const store = new LocalStore(where, host);
      const unusable = store.whyNotListable();
      if (unusable !== null) throw new ExitError(unusable, 2);
      // as a recording reads it: a value that is not a size leaves the default
      const size = parseSize(loaded.maxSize.value);
      const maxSize = size.ok ? { bytes: size.value, source: loaded.maxSize.source } : { bytes: DEFAULT_MAX_SIZE, source: 'default' };
      return command({ dir: where, store, now, env, stdout: stdout(), messages, colour: options.color !== false, maxSize });
    },
    fetch: async (source, options) => {
      if (options.verbose && options.quiet) throw new ExitError('-v and -q say opposite things; give one of them', 2);
      messages = new Messages(stderr, options.verbose ? 'verbose' : options.quiet ? 'silent' : 'normal', env);
      const loaded = await settings('run');
      return fetch({
        source,
        options: {
          output: options.output,
          policy: options.policy === undefined ? [] : [options.policy],
          tz: options.tz ?? loaded.tz.value ?? undefined,
          key: options.key,
          dir: options.dir ?? loaded.dir.value,
          force: options.force === true,
          delete: options.delete !== false,
          timeout: options.timeout,
          remote: options.remote ?? loaded.remote.value ?? undefined,
          remoteReadOnly: options.remoteReadOnly === true,
          remoteTimeout: options.remoteTimeout,
          signingKeyFile: loaded.signingKeyFile.value,
        },
        cwd: workingDirectory(),
        home: homedir(),
        env,
        nowText: env.DCACHE_NOW,
        host,
        stdout,
        reporter: messages,
      });
    },
    commandInputs,
    config: async (json) => config(stdout(), await settings('strict'), json),
  };
  try {
    if (argv.length === 1 && argv[0] === REFRESH_COMMAND) argv = refreshArguments(env);
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
    const { parseWithCommander } = await import('./program.js');
    return await parseWithCommander(argv, handlers, { stdout, stderr });
  } catch (err) {
    if (err instanceof ExitError) {
      messages.error(err.message);
      return err.exitCode;
    }
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    messages.error(`internal error, please report it: ${detail}`);
    return EXIT_DCACHE_FAILED;
  }
}
