import type { Writable } from 'node:stream';
import { getOrRecord, type EntryContent, type Production, type Recipe, type Replayed } from '../engine/get-or-record.js';
import type { Reporter } from '../ports/reporter.js';
import { describeError, EXIT_DCACHE_FAILED, ExitError, unreachable } from '../core/errors.js';
import { Capture } from '../process/capture.js';
import { FdSink } from '../process/fd-sink.js';
import { captureOutputs } from '../process/output-files.js';
import { replayEntry } from '../process/replay.js';
import { runCommand } from '../process/run-command.js';
import type { Interrupts } from '../ports/interrupts.js';
import type { Manifest } from '../schema/manifest.js';
import type { OpenBlobs } from '../ports/tiers.js';
import { RemoteSession } from '../store/remote/session.js';
import type { LocalStore } from '../store/local/local-store.js';
import { commandText } from './entry-info.js';
import { makeCommandCall, type CommandCall, type CommandInputs } from './command-call.js';
import { lockHolder } from '../engine/single-flight.js';
import { nearEntries } from './near.js';
import { formatAge } from '../policy/duration.js';

export interface RunContext extends CommandInputs {
  // getters: the process streams are created only if a run needs them
  stdout: () => Writable;
  stderr: () => Writable;
  reporter: Reporter;
  interrupts: Interrupts;
  // Ends our stdout (its reader sees the end) while dcache goes on; does
  // nothing where that cannot be done safely.
  closeStdout(): void;
  // Starts `dcache <argv>` as a background refresh: detached, in this
  // working directory, with this environment, its output discarded. Its
  // pid, or null if it could not start.
  spawnRefresh(): Promise<number | null>;
}

// dcache run: replay a fresh entry, or run the command and record it.
// Returns the exit code; throws ExitError for misuse.
export async function run(ctx: RunContext): Promise<number> {
  const made = await makeCommandCall(ctx);
  if (!made.ok) throw new ExitError(made.error, EXIT_DCACHE_FAILED);
  const call = made.value;
  try {
    // A background refresh runs only if no one is producing the entry.
    if (call.refreshing && (await lockHolder(call)) !== null) return 0;
    const outcome = await getOrRecord(call, commandRecipe(ctx, call), {
      reporter: ctx.reporter,
      interrupts: ctx.interrupts,
      openShared: (spec) => new RemoteSession(spec, ctx.env, call.signing, ctx.reporter, call.store),
      // stdin, part of the key, cannot be given to a process of its own
      ...(call.stdin === null ? { startRefresh: () => ctx.spawnRefresh() } : {}),
      nearEntries: () => nearEntries(call.store, call.material, call.clock()),
    });
    if (outcome.ok) return outcome.result;
    throw new ExitError(
      `the cached output was found corrupt while replaying it (${outcome.detail}); ` +
        'the entry is dropped, and the next run will execute the command',
      EXIT_DCACHE_FAILED,
    );
  } finally {
    call.stdin?.dispose();
    // a refresh gives back the claim of the stale caller that started it
    if (call.refreshing) call.store.dropRefreshClaim(call.key);
  }
}

// How a command is run and recorded, and its entries replayed: the exit
// code is the result.
function commandRecipe(ctx: RunContext, call: CommandCall): Recipe<number> {
  return {
    label: commandText(call.command, call.shell),
    replay: (entry, blobs) => replayCommand(ctx, call, entry, blobs),
    produce: (record, timeLimitMs) => runAndCapture(ctx, call, record ? call.store : null, timeLimitMs),
    beforeShare: () => ctx.closeStdout(),
  };
}

// Writes an entry back: its output files, then its stdout and stderr, to
// our own descriptors.
async function replayCommand(ctx: RunContext, call: CommandCall, entry: Manifest, blobs: OpenBlobs): Promise<Replayed<number>> {
  const sinks = { stdout: new FdSink(1, ctx.stdout), stderr: new FdSink(2, ctx.stderr) };
  const result = await replayEntry(blobs, entry, sinks, call.cwd, String(call.host.pid), call.host.umask);
  if (result.ok) return { kind: 'done', result: entry.exitCode };
  switch (result.reason) {
    // The reader went away: the recorded exit code still stands, as the
    // command's own does when its reader leaves during a recorded run.
    case 'closed':
      return { kind: 'done', result: entry.exitCode };
    case 'bad-before-output':
      return { kind: 'unusable', warning: `dropped a bad cache entry (${result.detail}); running the command`, drop: true, badBlob: result.hash };
    case 'unsafe-output':
      return {
        kind: 'unusable',
        warning:
          result.detail === null
            ? `refused a cache entry that would write '${result.path}' outside the declared outputs or the working directory; running the command`
            : `refused a cache entry whose output '${result.path}' ${result.detail}; running the command`,
        drop: true,
        badBlob: null,
      };
    case 'restore-failed':
      return { kind: 'unusable', warning: `cannot restore the output files (${result.detail}); running the command`, drop: false, badBlob: null };
    case 'bad-during-output':
      return { kind: 'broken', badBlob: result.hash, detail: result.detail };
    default:
      return unreachable(result);
  }
}

// Runs the command, its output streamed live to ours and into the store.
async function runAndCapture(ctx: RunContext, call: CommandCall, store: LocalStore | null, timeLimitMs: number | null): Promise<Production<number>> {
  const { reporter } = ctx;
  const capture = store ? new Capture(store) : null;
  // The command's output goes to our descriptors through the thread pool:
  // a reader that stops reading never stalls the lock's heartbeat. (Loaded
  // here: a stream class loads node:stream, which a hit does not need.)
  const { DescriptorStream } = await import('../process/fd-stream.js');
  const out = new DescriptorStream(1).on('error', () => {});
  const err = new DescriptorStream(2).on('error', () => {});
  let result;
  try {
    result = await runCommand({
      argv: call.command,
      shell: call.shell,
      stdinFile: call.stdin?.path ?? null,
      cwd: call.cwd,
      env: call.commandEnv,
      stdout: out,
      stderr: err,
      capture,
      interrupts: ctx.interrupts,
      timeLimitMs,
    });
  } catch (error) {
    await capture?.discard();
    throw error;
  } finally {
    await Promise.all([out.flushed(), err.flushed()]);
  }
  const { outcome } = result;
  switch (outcome.kind) {
    case 'not-found':
    case 'not-executable':
    case 'spawn-failed':
      reporter.error(outcome.message);
      break;
    case 'exited':
    case 'signaled':
    case 'timed-out':
      break;
  }
  const discard = async () => {
    await capture?.discard();
  };
  const worthRecording = outcome.kind === 'exited' && (outcome.exitCode === 0 || call.cacheFailures);
  let notRecorded: string | null =
    outcome.kind === 'timed-out'
      ? `the refresh was stopped at its time limit, ${formatAge(outcome.limitMs)} (DCACHE_REFRESH_LIMIT)`
      : outcome.kind === 'signaled'
      ? `the command was stopped by a signal (exit ${outcome.exitCode})`
      : outcome.kind !== 'exited'
        ? `the command could not run (exit ${outcome.exitCode})`
        : outcome.exitCode !== 0 && !call.cacheFailures
          ? `exit ${outcome.exitCode}; only exit 0 is recorded (--cache-failures records failures)`
          : null;
  return {
    result: outcome.exitCode,
    // a run that was interrupted did not fail
    failed:
      outcome.kind === 'timed-out'
        ? `stopped at its time limit, ${formatAge(outcome.limitMs)}`
        : outcome.kind !== 'signaled' && outcome.exitCode !== 0
          ? `exit ${outcome.exitCode}`
          : null,
    discard,
    notRecorded: () => notRecorded,
    // A failure (an exit code of its own, not a signal) for the callers
    // that waited for this run: its stdout and stderr, no output files.
    keepFailure: async (): Promise<EntryContent | null> => {
      if (capture === null || store === null || outcome.kind !== 'exited' || outcome.exitCode === 0) return null;
      try {
        return { exitCode: outcome.exitCode, ...(await capture.finish()), outputs: [] };
      } catch {
        await discard();
        return null;
      }
    },
    keep: async (): Promise<EntryContent | null> => {
      if (capture === null || store === null || !worthRecording) {
        await discard();
        return null;
      }
      try {
        // Output files are captured only after a successful run: a failed
        // one is replayed as stdout, stderr and its exit code alone.
        const outputs = outcome.exitCode === 0 ? await captureOutputs(store, call.cwd, call.material.outputs) : { ok: true as const, value: [] };
        if (!outputs.ok) {
          await discard();
          const problem = outputs.error;
          switch (problem.reason) {
            case 'missing':
              reporter.alert('not-recorded', `declared output '${problem.path}' does not exist after the run; nothing was recorded`);
              notRecorded = `the declared output '${problem.path}' does not exist`;
              break;
            case 'outside':
              reporter.alert('not-recorded', `declared output '${problem.path}' lies outside the working directory through a symlink; nothing was recorded`);
              notRecorded = `the declared output '${problem.path}' lies outside the working directory`;
              break;
            case 'failed':
              reporter.alert('not-recorded', `cannot capture the output files (${problem.detail}); nothing was recorded`);
              break;
            default:
              return unreachable(problem);
          }
          return null;
        }
        const streams = await capture.finish();
        return { exitCode: outcome.exitCode, ...streams, outputs: outputs.value };
      } catch (error) {
        await discard();
        reporter.warnOnce('cache', `the run was not recorded (${describeError(error)})`);
        return null;
      }
    },
  };
}
