import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, type Result, type Sandbox } from './rig.js';

// Helpers for the reliability suite, on top of the shared rig: dcache as a
// background process (to signal it, kill it, or run sixteen at once), a
// bounded spawn whose time limit is the failure condition, and small
// file-system probes.

export interface Running {
  child: ChildProcess;
  pid: number;
  // resolves when the process has exited and its pipes are closed
  done: Promise<Result>;
  // stderr so far, as text
  stderr(): string;
}

// Starts `dcache <args>` in the sandbox without waiting for it. With
// `stdin: 'pipe'` the test writes its standard input (child.stdin).
// With `group`, it leads a process group of its own, as a shell job does,
// so that the test can signal the group (Ctrl-C) with kill(-pid).
export function startDcache(
  box: Sandbox,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: 'ignore' | 'pipe'; group?: boolean } = {},
): Running {
  return track(
    spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? box.root,
      env: { ...box.env, ...options.env },
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
      detached: options.group === true,
    }),
  );
}

// Starts a shell line in the sandbox without waiting for it; $DCACHE is
// the dcache command (`exec $DCACHE ...` makes dcache the process itself).
export function startShell(box: Sandbox, line: string): Running {
  return track(
    spawn('/bin/sh', ['-c', line], {
      cwd: box.root,
      env: { ...box.env, DCACHE: `${process.execPath} ${BIN}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

function track(child: ChildProcess): Running {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
  return { child, pid: child.pid!, done, stderr: () => Buffer.concat(err).toString('utf8') };
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

// Polls until `check` is true; fails the test after `limitMs`.
export async function waitUntil(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// A pid written to a file by a test script.
export function readPid(path: string): number {
  return Number(readFileSync(path, 'utf8').trim());
}

// Whether a process is gone. A zombie counts as gone: it has ended and only
// waits for its (new) parent to collect its status.
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

// Kills a process, and the group it leads, if still there (clean-up after a test).
export function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone, or not a group leader
    }
  }
}

export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

// Every directory and file under `dir` (itself included), with its mode bits.
export function listModes(dir: string): Array<{ path: string; dir: boolean; mode: number }> {
  const found = [{ path: dir, dir: true, mode: statSync(dir).mode & 0o777 }];
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(d.parentPath, d.name);
    found.push({ path, dir: d.isDirectory(), mode: statSync(path).mode & 0o777 });
  }
  return found;
}

// The manifests under a cache directory.
export function manifests(cacheDir: string): string[] {
  return listFiles(join(cacheDir, 'entries')).filter((f) => f.endsWith('.json'));
}

// The lock directories left under a cache directory.
export function locks(cacheDir: string): string[] {
  const dir = join(cacheDir, 'locks');
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.lock')) : [];
}

// The lines dcache wrote of its own: stderr lines that start `dcache:`.
export function dcacheLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.replace(/\u001b\[[0-9;]*m/g, '').startsWith('dcache:'));
}

// A stack trace or an internal error: never acceptable in dcache's output.
export const CRASH = /internal error|^\s+at .+:\d+:\d+\)?$/m;
