import type { Readable, Writable } from 'node:stream';
import type { Capture, StreamFd } from './capture.js';
import { EXIT_CANNOT_EXECUTE, EXIT_DCACHE_FAILED, EXIT_NOT_FOUND } from '../core/errors.js';
import { drained } from '../core/drained.js';
import { reclaim } from '../core/reclaim.js';
import { exitCodeOf, type Interrupt, type Interrupts } from '../ports/interrupts.js';

// How a run ended. Every variant carries the exit code dcache should return.
export type RunOutcome =
  | { kind: 'exited'; exitCode: number }
  | { kind: 'signaled'; signal: string; exitCode: number }
  // stopped at its time limit (a background refresh's); 124, as timeout(1)
  | { kind: 'timed-out'; limitMs: number; exitCode: 124 }
  | { kind: 'not-found'; exitCode: typeof EXIT_NOT_FOUND; message: string }
  | { kind: 'not-executable'; exitCode: typeof EXIT_CANNOT_EXECUTE; message: string }
  | { kind: 'spawn-failed'; exitCode: typeof EXIT_DCACHE_FAILED; message: string };

export interface RunRequest {
  argv: string[];
  // argv is one string for /bin/sh -c
  shell: boolean;
  // a file to feed as standard input; null for /dev/null
  stdinFile: string | null;
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
  // null: pass the output through without recording it
  capture: Capture | null;
  // where SIGINT, SIGTERM and SIGHUP sent to dcache come in
  interrupts: Interrupts;
  // past this, the command's group gets SIGTERM, and SIGKILL KILL_AFTER_MS
  // later; null: no limit
  timeLimitMs?: number | null;
}

// How long a command stopped at its time limit has to end before it is killed.
const KILL_AFTER_MS = 10_000;

export interface RunResult {
  outcome: RunOutcome;
}

// After the command exits, how long its output may still take to arrive.
// A daemon it started may hold its stdout open for ever; a shell would not
// wait for that, and neither does dcache.
const AFTER_EXIT_MS = 500;

// Runs the command with stdin from /dev/null (or --stdin's copy), streaming
// its stdout and stderr live to ours and into the capture. The slowest of
// the two sinks paces the command (back-pressure), so memory stays bounded.
//
// The command runs in a process group of its own, and SIGINT, SIGTERM and
// SIGHUP sent to dcache are passed on to that group; dcache then waits for
// the command and reports 128 + the signal's number, recording nothing.
//
// A reader of our stdout or stderr that goes away (`| head -1`) changes
// nothing for a recorded run: the command's output goes on into the
// capture, the command finishes, and its own exit code is the result, as
// bkt's is. Whether it had finished when its reader left would otherwise
// decide between its exit code and 141, and between an entry and none.
// Unrecorded (no capture), dcache is only a pipe: the command sees the
// closed pipe as it would without dcache.
export async function runCommand(request: RunRequest): Promise<RunResult> {
  const { execa } = await import('execa');
  const [file, ...args] = request.shell ? ['/bin/sh', '-c', ...request.argv] : (request.argv as [string, ...string[]]);
  const child = execa(file, args, {
    cwd: request.cwd,
    env: request.env,
    extendEnv: false,
    stdin: request.stdinFile === null ? 'ignore' : { file: request.stdinFile },
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    encoding: 'buffer',
    reject: false,
    stripFinalNewline: false,
    detached: true,
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  let received: Interrupt | null = null;
  const forwarding = request.interrupts.forwardTo((signal) => {
    received ??= signal;
    signalGroup(signal);
  });
  // Our reader went away and nothing is recorded. Without dcache the
  // command would get SIGPIPE on its next write; its pipe here is a socket,
  // where it would get ECONNRESET instead and likely complain, so it is
  // sent the SIGPIPE it expects.
  const onClosedSink = () => signalGroup('SIGPIPE');
  let lingering: NodeJS.Timeout | undefined;
  child.once('exit', () => {
    lingering = setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, AFTER_EXIT_MS);
  });
  // A background refresh that runs past its limit is stopped (a hung
  // download must not hold the key's lock, and those who wait, for hours).
  let stopped = false;
  let killer: NodeJS.Timeout | undefined;
  const limit =
    request.timeLimitMs == null
      ? undefined
      : setTimeout(() => {
          stopped = true;
          signalGroup('SIGTERM');
          killer = setTimeout(() => signalGroup('SIGKILL'), KILL_AFTER_MS);
        }, request.timeLimitMs);
  const pumps = [
    child.stdout ? pump(child.stdout, 1, request.stdout, request.capture, onClosedSink) : Promise.resolve(),
    child.stderr ? pump(child.stderr, 2, request.stderr, request.capture, onClosedSink) : Promise.resolve(),
  ];
  try {
    const [result] = await Promise.all([child, ...pumps]);
    if (received !== null) return { outcome: signaled(received) };
    if (stopped) return { outcome: { kind: 'timed-out', limitMs: request.timeLimitMs!, exitCode: 124 } };
    return { outcome: toOutcome(result, file) };
  } finally {
    clearTimeout(lingering);
    clearTimeout(limit);
    clearTimeout(killer);
    forwarding.dispose();
  }
}

function signaled(signal: string): RunOutcome {
  return { kind: 'signaled', signal, exitCode: exitCodeOf(signal) };
}

function toOutcome(
  result: { exitCode?: number | undefined; signal?: string | undefined; code?: string | undefined },
  file: string,
): RunOutcome {
  if (result.exitCode !== undefined) return { kind: 'exited', exitCode: result.exitCode };
  if (result.signal !== undefined) return signaled(result.signal);
  switch (result.code) {
    case 'ENOENT':
      return { kind: 'not-found', exitCode: EXIT_NOT_FOUND, message: `${file}: command not found` };
    case 'EACCES':
    case 'EISDIR':
    case 'ENOEXEC':
      return { kind: 'not-executable', exitCode: EXIT_CANNOT_EXECUTE, message: `${file}: cannot execute (${result.code})` };
    default:
      return { kind: 'spawn-failed', exitCode: EXIT_DCACHE_FAILED, message: `${file}: cannot run (${result.code ?? 'unknown error'})` };
  }
}

// Copies one of the command's streams to our own and to the capture. If our
// stream is closed (the reader went away), the rest goes to the capture
// alone; with no capture, the command's pipe is closed too, so the command
// sees EPIPE/SIGPIPE as it would without dcache.
function pump(
  source: Readable,
  fd: StreamFd,
  sink: Writable,
  capture: Capture | null,
  onClosedSink: () => void,
): Promise<void> {
  return new Promise((resolve) => {
    let sinkOpen = true;
    let stopped = false;
    // Nothing would keep what comes next: the command meets the closed pipe.
    const stopUnlessRecorded = () => {
      if (sinkOpen || stopped || (capture !== null && capture.failure === null)) return;
      stopped = true;
      onClosedSink();
      source.destroy();
    };
    // EPIPE, or any other failure to write: either way nothing more gets through
    const sinkError = () => {
      sinkOpen = false;
      stopUnlessRecorded();
    };
    sink.on('error', sinkError);
    source.on('data', (chunk: Buffer) => {
      reclaim(chunk.length);
      const waits: Promise<void>[] = [];
      if (sinkOpen && !sink.write(chunk)) waits.push(drained(sink));
      if (capture && !capture.write(fd, chunk)) waits.push(capture.drained());
      // (a capture that fails once its reader has gone, a full disk, keeps nothing more)
      stopUnlessRecorded();
      if (waits.length > 0) {
        source.pause();
        void Promise.all(waits).then(() => {
          stopUnlessRecorded();
          if (!stopped) source.resume();
        });
      }
    });
    const finish = () => {
      sink.off('error', sinkError);
      resolve();
    };
    source.once('end', finish);
    source.once('close', finish);
  });
}
