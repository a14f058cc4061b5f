import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, type Result, type Sandbox } from './sandbox.js';
import { GENEROUS_MS } from './wait.js';

// dcache (or a shell line) as a background process: to signal it, kill it,
// watch its output as it comes, run many at once, or leave the event loop
// free for a server in the test process.

export interface Finished extends Result {
  // killed by the GENEROUS_MS limit: it hung
  timedOut: boolean;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  // 'pipe': the test writes its standard input (child.stdin)
  stdin?: 'ignore' | 'pipe';
  // leads a process group of its own, as a shell job does, so that the test
  // can signal the group (Ctrl-C) with kill(-pid)
  group?: boolean;
}

// A process in flight. `done` settles when it has exited and its pipes are
// closed, or after GENEROUS_MS, when it is killed with timedOut set. One still
// running when the test ends is killed by the sandbox's clean-up.
export class Running {
  readonly pid: number;
  readonly done: Promise<Finished>;
  // settles when the reader of its stdout sees the end
  readonly stdoutEnd: Promise<void>;
  private readonly out: Buffer[] = [];
  private stdoutBytes = 0;
  private stderrText = '';
  // exited, and its pipes closed: all its output is in
  private closed = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly child: ChildProcess,
    private readonly group = false,
  ) {
    this.pid = child.pid!;
    this.stdoutEnd = new Promise((resolve) => child.stdout!.once('end', resolve));
    child.stdout!.on('data', (chunk: Buffer) => {
      this.out.push(chunk);
      this.stdoutBytes += chunk.length;
      this.notify();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrText += chunk.toString('utf8');
      this.notify();
    });
    this.done = new Promise((resolve, reject) => {
      let timedOut = false;
      const killer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, GENEROUS_MS);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(killer);
        this.closed = true;
        this.notify();
        resolve({ code, signal, stdout: Buffer.concat(this.out), stderr: this.stderrText, timedOut });
      });
    });
  }

  // stderr so far, as text
  stderr(): string {
    return this.stderrText;
  }

  // Resolves once stderr matches `pattern`; rejects if the process exits first.
  stderrMatches(pattern: RegExp): Promise<void> {
    return this.until(() => pattern.test(this.stderrText), `its stderr matched ${pattern}`);
  }

  // Resolves once at least `bytes` bytes have come out on its stdout;
  // rejects if the process exits first.
  stdoutReaches(bytes: number): Promise<void> {
    return this.until(() => this.stdoutBytes >= bytes, `${bytes} bytes came out on its stdout (${this.stdoutBytes} did)`);
  }

  // Kills it, and its group if it leads one, unless it has already exited
  // (its pid could then be another process's).
  stop(): void {
    if (this.exited()) return;
    if (this.group) {
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
    this.child.kill('SIGKILL');
  }

  private exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  // Settles when `holds` does, checked on every piece of output and at exit.
  private until(holds: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (holds()) {
          this.listeners.delete(check);
          resolve();
        } else if (this.closed) {
          this.listeners.delete(check);
          reject(new Error(`exited before ${what}: ${JSON.stringify(this.stderrText)}`));
        }
      };
      this.listeners.add(check);
      check();
    });
  }
}

// Starts `dcache <args>` in the sandbox without waiting for it.
export function startDcache(box: Sandbox, args: string[], options: StartOptions = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? box.root,
    env: { ...box.env, ...options.env },
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    detached: options.group === true,
  });
  return track(box, new Running(child, options.group === true));
}

// Starts `node <script> <args>` with the sandbox's environment (its cache
// directory) without waiting for it: a program that uses the library.
export function startNode(box: Sandbox, script: string, args: string[], options: StartOptions = {}): Running {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd ?? box.root,
    env: { ...box.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(box, new Running(child));
}

// Starts a shell line in the sandbox without waiting for it; $DCACHE is
// the dcache command (`exec $DCACHE ...` makes dcache the process itself).
export function startShell(box: Sandbox, line: string): Running {
  const child = spawn('/bin/sh', ['-c', line], {
    cwd: box.root,
    env: { ...box.env, DCACHE: `${process.execPath} ${BIN}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(box, new Running(child));
}

function track(box: Sandbox, running: Running): Running {
  box.onCleanup(() => running.stop());
  return running;
}
