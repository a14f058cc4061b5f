import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { killGroup } from './processes.js';

// The end-to-end rig: a temp directory with its own cache directory, in which
// the built bin/dcache.js runs as a real process with an environment scrubbed
// of anything that could steer it. Tests get one from the `box` fixture
// (fixture.ts); those that need more build them with `new Sandbox()`.

export const BIN = resolve(import.meta.dirname, '../../bin/dcache.js');

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string | Buffer;
}

export class Sandbox {
  readonly root: string;
  readonly cacheDir: string;
  readonly env: NodeJS.ProcessEnv;
  // run at clean-up, before the directory goes: processes left running
  private readonly cleanups: Array<() => void> = [];

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'dcache-e2e-'));
    this.cacheDir = join(this.root, 'cache');
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('DCACHE_') && name !== 'NO_COLOR' && name !== 'FORCE_COLOR' && !name.startsWith('XDG_')) {
        env[name] = value;
      }
    }
    env.DCACHE_DIR = this.cacheDir;
    env.TZ = 'Europe/Paris';
    this.env = env;
  }

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  // Runs `dcache <args>` in the sandbox and waits for it.
  dcache(args: string[], options: RunOptions = {}): Result {
    return this.spawn(process.execPath, [BIN, ...args], options);
  }

  // Runs a shell line in the sandbox (for pipelines and redirections);
  // $DCACHE is the dcache command.
  shell(line: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Result {
    return this.spawn('/bin/sh', ['-c', line], {
      ...options,
      env: { DCACHE: `${process.execPath} ${BIN}`, ...options.env },
    });
  }

  // An executable script that appends a line to a counter file each time it
  // really runs, then does `body`. `runs()` reads the count back.
  counter(name: string, body: string): { path: string; runs: () => number } {
    const path = this.path(name);
    const countFile = this.path(`${name}.count`);
    writeFileSync(path, `#!/bin/sh\necho run >> '${countFile}'\n${body}\n`);
    chmodSync(path, 0o755);
    return {
      path,
      runs: () => (existsSync(countFile) ? readFileSync(countFile, 'utf8').split('\n').filter(Boolean).length : 0),
    };
  }

  // Has `stop` called at clean-up (a process the test started and may leave running).
  onCleanup(stop: () => void): void {
    this.cleanups.push(stop);
  }

  // Kills the process `pid` (a command whose pid a test script wrote down),
  // and the group it leads, at clean-up if it is still there.
  killAtCleanup(pid: number): void {
    this.onCleanup(() => killGroup(pid));
  }

  cleanup(): void {
    for (const stop of this.cleanups.splice(0)) stop();
    rmSync(this.root, { recursive: true, force: true });
  }

  private spawn(file: string, args: string[], options: RunOptions): Result {
    const spawnOptions: SpawnSyncOptions = {
      cwd: options.cwd ?? this.root,
      env: { ...this.env, ...options.env },
      maxBuffer: 1 << 30,
      timeout: 120_000,
    };
    if (options.input !== undefined) spawnOptions.input = options.input;
    const r = spawnSync(file, args, spawnOptions);
    if (r.error) throw r.error;
    return { code: r.status, signal: r.signal, stdout: r.stdout as Buffer, stderr: (r.stderr as Buffer).toString('utf8') };
  }
}

// Runs `dcache <args>` and kills it after `limitMs`: a result with a signal
// means it did not finish in time. (The limit is the failure condition,
// never a measurement.)
export function dcacheWithin(
  box: Sandbox,
  limitMs: number,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? box.root,
    env: { ...box.env, ...options.env },
    maxBuffer: 1 << 30,
    timeout: limitMs,
    killSignal: 'SIGKILL',
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout as Buffer, stderr: (r.stderr as Buffer).toString('utf8') };
}
