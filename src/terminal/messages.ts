import { Chalk } from 'chalk';
import { escapeControls } from '../core/text.js';
import type { Reporter, Transfer } from '../ports/reporter.js';
import { formatSize } from '../core/size.js';

// The one place that writes dcache's own words. They go to stderr, each line
// prefixed `dcache:`, so they can never be mistaken for the wrapped command's
// stdout. Colour is decided here and nowhere else.

// quiet (-q): errors, and the alerts a cron user must see (stale output
// served, the cache or a source bypassed); silent (-qq): errors only.
export type Verbosity = 'silent' | 'quiet' | 'normal' | 'verbose';

export interface MessageSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface TransferOptions {
  // whether the terminal's cursor may be after a partial line (the command's
  // output did not end with a newline): the progress line then starts below it
  afterPartialLine?: () => boolean;
}

// A transfer shorter than this shows nothing; past it, its line is redrawn
// this often.
export const PROGRESS_AFTER_MS = 1000;
const PROGRESS_EVERY_MS = 250;

// Colour only for a terminal, with NO_COLOR unset or empty and TERM not dumb
// (clig.dev); chalk alone does not look at NO_COLOR.
export function wantsColour(stream: MessageSink, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

export class Messages implements Reporter {
  get verbose(): boolean {
    return this.verbosity === 'verbose';
  }

  private chalk: InstanceType<typeof Chalk> | undefined;
  private readonly warned = new Set<string>();
  // whether a progress line is on the terminal now, to be cleared before a message
  private progressShown = false;

  // `sink` is a getter: the stream is created, and colour decided, only when
  // there is something to say (creating process.stderr costs start-up time).
  constructor(
    private readonly sink: () => MessageSink,
    readonly verbosity: Verbosity,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  // What --verbose asks for: hit or miss, and why.
  info(message: string): void {
    if (this.verbosity === 'verbose') this.line('dim', message);
  }

  // Something went wrong with the cache, but the command is unaffected.
  warn(message: string): void {
    if (this.verbosity === 'normal' || this.verbosity === 'verbose') this.line('yellow', message);
  }

  // The same warning once per process, however often its cause recurs.
  warnOnce(topic: string, message: string): void {
    if (this.warned.has(topic)) return;
    this.warned.add(topic);
    this.warn(message);
  }

  // A warning that -q does not hide, once per process: the output is stale,
  // or the cache or a source was bypassed, and a cron job (which runs with
  // -q, and mails what it prints) must learn it. -qq hides it too.
  alert(topic: string, message: string): void {
    if (this.verbosity === 'silent' || this.warned.has(topic)) return;
    this.warned.add(topic);
    this.line('yellow', message);
  }

  // --explain: always shown, one line per part.
  explain(message: string): void {
    this.line('dim', message);
  }

  // dcache itself failed or was misused; shown even with --quiet.
  error(message: string): void {
    this.line('red', message);
  }

  // A progress line for a transfer that lasts more than a second, on a
  // terminal only, and not with --quiet: bytes, share, rate and where,
  // redrawn in place on stderr and cleared at the end. Piped or redirected,
  // stderr gets nothing of it.
  transfer(verb: string, where: string, totalBytes: number, options: TransferOptions = {}): Transfer | null {
    let moved = 0;
    let sink: MessageSink | null = null;
    if (totalBytes > 0 && (this.verbosity === 'normal' || this.verbosity === 'verbose') && this.env.TERM !== 'dumb') {
      sink = this.sink();
      if (sink.isTTY !== true) sink = null;
    }
    if (sink === null) return null;
    const out = sink;
    const started = performance.now();
    let drawn = false;
    // (a question about the output that cannot be answered: as if it ended a line)
    const startsBelow = () => {
      try {
        return options.afterPartialLine?.() === true;
      } catch {
        return false;
      }
    };
    const draw = () => {
      // below a partial last line of the command's, not over it
      if (!drawn && startsBelow()) out.write('\n');
      drawn = true;
      const seconds = (performance.now() - started) / 1000;
      // (an upload counts what it handed to the connection, which can be all
      // of it before the server has it: 100% is for the end)
      const share = ` (${Math.min(99, Math.floor((moved / totalBytes) * 100))}%)`;
      const rate = seconds > 0 ? `, ${formatSize(Math.round(moved / seconds))}/s` : '';
      // the figures first: a long URL is what a narrow terminal cuts
      let text = `dcache: ${verb} ${formatSize(moved)} of ${formatSize(totalBytes)}${share}${rate}, ${escapeControls(where)}`;
      // a line that wrapped could not be redrawn in place
      // (a pseudo-terminal nobody sized says 0 columns)
      const columns = out.columns !== undefined && out.columns > 0 ? out.columns : 80;
      if (text.length >= columns) text = `${text.slice(0, Math.max(0, columns - 2))}…`;
      out.write(`\r\u001b[K${text}`);
      this.progressShown = true;
    };
    let every: NodeJS.Timeout | undefined;
    // a process that exits mid-transfer (Ctrl-C) leaves no half line behind
    const onExit = () => this.clearProgress();
    const first = setTimeout(() => {
      process.once('exit', onExit);
      draw();
      every = setInterval(draw, PROGRESS_EVERY_MS);
      every.unref();
    }, PROGRESS_AFTER_MS);
    first.unref();
    return {
      moved: (bytes) => {
        moved = bytes;
      },
      end: () => {
        clearTimeout(first);
        clearInterval(every);
        process.off('exit', onExit);
        this.clearProgress();
      },
    };
  }

  private clearProgress(): void {
    if (!this.progressShown) return;
    this.progressShown = false;
    this.sink().write('\r\u001b[K');
  }

  // Every line of a message starts with `dcache:`, and control characters
  // in it (from a command line, a path) are escaped, so nothing printed can
  // pass for the command's output or drive the terminal.
  private line(style: 'dim' | 'yellow' | 'red', message: string): void {
    this.clearProgress();
    const sink = this.sink();
    this.chalk ??= new Chalk({ level: wantsColour(sink, this.env) ? 1 : 0 });
    const chalk = this.chalk;
    const text = message
      .split('\n')
      .map((line) => `${chalk.bold('dcache:')} ${chalk[style](escapeControls(line))}\n`)
      .join('');
    sink.write(text);
  }
}

// Styles for a command's own report on stdout (ls, show, stats): plain
// text unless colour is wanted for that stream and not refused (--no-color).
export interface Palette {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
}

export function createPalette(stream: MessageSink, env: NodeJS.ProcessEnv, allowed: boolean): Palette {
  const chalk = new Chalk({ level: allowed && wantsColour(stream, env) ? 1 : 0 });
  return {
    bold: (t) => chalk.bold(t),
    dim: (t) => chalk.dim(t),
    green: (t) => chalk.green(t),
    yellow: (t) => chalk.yellow(t),
    red: (t) => chalk.red(t),
  };
}
