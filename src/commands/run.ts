import type { Writable } from 'node:stream';
import { Capture } from '../process/capture.js';
import { formatInstant } from '../policy/clock.js';
import { formatAge } from '../policy/duration.js';
import { commandText } from './entry-info.js';
import { EXIT_DCACHE_FAILED, ExitError, unreachable } from '../errors.js';
import { explainDecision } from '../engine/explain.js';
import { FdSink } from '../process/fd-sink.js';
import { DescriptorStream } from '../process/fd-stream.js';
import { checkSources, decide, type Decision, type SourceCheck } from '../engine/lookup.js';
import { RemoteSession } from '../store/remote/session.js';
import type { Manifest } from '../schema/manifest.js';
import { MANIFEST_FORMAT } from '../schema/manifest.js';
import { captureOutputs } from '../process/output-files.js';
import type { Output } from '../terminal/messages.js';
import { makePlan, type Plan, type PlanInputs } from '../engine/call.js';
import { runCommand } from '../process/run-command.js';
import { replayEntry } from '../process/replay.js';
import { formatSize, parseSize } from '../size.js';
import { recordEvent } from '../store/local/activity.js';
import { autoCollect, DEFAULT_MAX_SIZE } from '../store/local/gc.js';
import { lockKey } from '../store/local/lock.js';
import type { HeldLock, LockOutcome, WaitHooks } from '../engine/lease.js';
import type { Interrupts } from '../process/signals.js';
import { describeError } from '../store/local/local-store.js';
import { recordable } from '../sources/watch.js';

// A process whose reader went away dies of SIGPIPE in a shell; 128 + 13.
const EXIT_BROKEN_PIPE = 141;

export interface RunContext extends PlanInputs {
  // getters: the process streams are created only if a run needs them
  stdout: () => Writable;
  stderr: () => Writable;
  output: Output;
  interrupts: Interrupts;
  // Ends our stdout (its reader sees the end) while dcache goes on; does
  // nothing where that cannot be done safely.
  closeStdout(): void;
}

// dcache run: replay a fresh entry, or run the command and record it.
// Returns the exit code; throws ExitError for misuse.
export async function run(ctx: RunContext): Promise<number> {
  const planned = await makePlan(ctx);
  if (!planned.ok) throw new ExitError(planned.error, EXIT_DCACHE_FAILED);
  const plan = planned.value;
  const { output } = ctx;
  for (const warning of plan.warnings) output.warnOnce(`setting:${warning}`, warning);
  try {
    let decision = await decide(plan, output, plan.options.force);
    if (plan.options.explain) for (const line of explainDecision(plan, decision)) output.explain(line);
    if (decision.fresh) {
      const replayed = await replayHit(ctx, plan, decision.manifest, decision.verdict.expiresAt);
      if (replayed !== null) return replayed;
    }
    const usable = prepareStore(ctx, plan);
    const remote = usable && plan.remote ? new RemoteSession(plan.remote, plan.env, output) : null;
    try {
      return await missLocally(ctx, plan, decision, usable, remote);
    } finally {
      await remote?.close();
    }
  } finally {
    plan.stdin?.dispose();
  }
}

// No fresh local entry: try the remote, wait for whoever is already running
// the command (here, or on another machine through the remote), and
// otherwise run it, record it, and share it.
async function missLocally(
  ctx: RunContext,
  plan: Plan,
  local: Decision,
  usable: boolean,
  remote: RemoteSession | null,
): Promise<number> {
  const { output } = ctx;
  let decision = local;
  // An entry pulled from the remote that could not be replayed (refused
  // output paths, say) is not pulled again.
  let remoteUsable = true;
  const fromRemote = async (): Promise<number | null> => {
    if (remote === null || plan.options.force || !remoteUsable) return null;
    const pulled = await remote.pull(plan);
    if (pulled === null) return null;
    const replayed = await replayHit(ctx, plan, pulled.manifest, pulled.verdict.expiresAt, true);
    if (replayed === null) remoteUsable = false;
    return replayed;
  };
  const replayed = await fromRemote();
  if (replayed !== null) return replayed;
  const held: HeldLock[] = [];
  // Released on every way out, a signal before or after the command included.
  const interrupt = ctx.interrupts.cleanUpWith(() => releaseAll(held));
  try {
    // Single flight: wait for a process already running this command, then
    // look again, since it has probably just recorded what we need. The
    // holder published while we waited: replay without the lock, as all
    // the other waiters do; if that entry will not do, wait for the lock.
    let lock: HeldLock | null = null;
    while (usable) {
      const outcome = await lockLocally(plan, output, () => entryChanged(plan, decision));
      if (outcome === null || outcome.kind === 'timed-out') break;
      if (outcome.kind === 'held') {
        lock = outcome.lock;
        held.push(lock);
        break;
      }
      if (plan.nowIsReal) plan.now = Date.now();
      decision = await decide(plan, output, false);
      if (decision.fresh) {
        const again = await replayHit(ctx, plan, decision.manifest, decision.verdict.expiresAt, false);
        if (again !== null) return again;
        decision = await decide(plan, output, false);
      }
    }
    let remoteLock: HeldLock | null = null;
    let remoteWaited = false;
    if (lock && remote) {
      const outcome = await remote.lock(plan, waitHooks(output, 'another machine', plan, () => remote.hasFresh(plan)));
      remoteWaited = outcome !== null && outcome.kind !== 'held';
      if (outcome?.kind === 'held') {
        remoteLock = outcome.lock;
        remoteWaited = remoteLock.waited;
        held.push(remoteLock);
      }
    }
    // Look again if someone may have recorded since we looked: we waited
    // for them, or the entry changed before we got the lock. The clock moves
    // on too: their entry is newer than our start.
    const changed = lock !== null && entryChanged(plan, decision);
    if ((lock?.waited || remoteWaited || changed) && !plan.options.force) {
      if (plan.nowIsReal) plan.now = Date.now();
      decision = await decide(plan, output, false);
      if (decision.fresh) {
        await releaseAll(held);
        const again = await replayHit(ctx, plan, decision.manifest, decision.verdict.expiresAt, false);
        if (again !== null) return again;
      }
    }
    // Another machine may have shared the entry while we missed or waited:
    // look once more (one small request).
    if (remote && !decision.fresh && (lock?.waited || remoteLock !== null || remoteWaited)) {
      const pulled = await fromRemote();
      if (pulled !== null) return pulled;
    }
    if (!decision.fresh) output.info(`miss (${decision.reason}); running ${commandText(plan.command, plan.options.shell)}`);
    // An entry that may stand in for a failed run (--stale-if-error).
    const fallback = !decision.fresh && decision.entry?.exitCode === 0 ? decision.entry : null;
    const recorded = await record(ctx, plan, usable, decision.fresh ? null : decision.checks, fallback);
    // Shared after the command's output is done, and after our stdout is
    // closed, so that a reader in a pipeline need not wait for the upload;
    // a failure is a warning.
    if (recorded.manifest && remote && !remote.spec.readOnly) {
      ctx.closeStdout();
      await remote.push(plan, recorded.manifest);
    }
    await releaseAll(held);
    if (usable) {
      recordEvent(plan.store.root, { t: plan.now, k: plan.key, e: 'miss' });
      await collectNowAndThen(ctx, plan);
    }
    return recorded.exitCode;
  } finally {
    await releaseAll(held);
    interrupt.dispose();
  }
}

// Takes the key's lock in the local store; null (with one warning) when the
// lock itself cannot be made, and the command then runs without it.
async function lockLocally(plan: Plan, output: Output, giveUp: () => boolean): Promise<LockOutcome | null> {
  try {
    return await lockKey(plan.store.root, plan.key, plan.lease, plan.identity, waitHooks(output, null, plan, giveUp));
  } catch (err) {
    output.warnOnce('cache', `cannot lock the cache entry (${describeError(err)}); running without waiting`);
    return null;
  }
}

// What a waiter says under -v: whom it waits for, every few seconds for how
// long, and why it takes a lock over; the longest wait is warned about.
function waitHooks(output: Output, where: string | null, plan: Plan, giveUp: () => boolean | Promise<boolean>): WaitHooks {
  const name = (holder: string) => (where === null ? holder : `${where} (${holder})`);
  return {
    onWait: (holder) => output.info(`waiting for ${name(holder)}, which is running the same command`),
    onProgress: (holder, waitedMs) => output.info(`still waiting for ${name(holder)}, for ${formatAge(waitedMs)} now`),
    onTakeover: (holder, why) => output.info(`taking the lock over from ${name(holder)}: ${why}`),
    onTimeout: (holder, waitedMs) =>
      output.warnOnce(
        'lock-wait',
        `waited ${formatAge(waitedMs)} for ${name(holder)}, the longest dcache waits (DCACHE_LOCK_MAX_WAIT, ` +
          `${formatAge(plan.lease.maxWaitMs)}); running the command without waiting`,
      ),
    giveUp,
    onLost: (why) => output.info(`lost the lock of this entry: ${why}; going on (what is recorded is published whole)`),
  };
}

// Whether the entry on disk is no longer the one `decision` judged.
function entryChanged(plan: Plan, decision: Decision): boolean {
  const read = plan.store.readEntry(plan.key);
  const now = read.status === 'found' ? read.manifest.recordedAt : null;
  const before = decision.fresh ? decision.manifest.recordedAt : (decision.entry?.recordedAt ?? null);
  return now !== before;
}

// Releases every lock still held, the remote one first (it is the last
// taken); a release that fails leaves that lock to lapse.
async function releaseAll(held: HeldLock[]): Promise<void> {
  for (const lock of held.splice(0).reverse()) await lock.release().catch(() => {});
}

// Replays a fresh entry and counts the hit; null if it proved unusable.
async function replayHit(
  ctx: RunContext,
  plan: Plan,
  m: Manifest,
  expiresAt: number | null,
  remote = false,
): Promise<number | null> {
  ctx.output.info(
    `${remote ? `hit on the remote cache ${plan.remote?.label}` : 'hit'}: recorded ${formatAge(plan.now - m.recordedAt)} ago (${formatInstant(m.recordedAt, plan.zone)}), ` +
      `fresh ${expiresAt === null ? 'forever' : `until ${formatInstant(expiresAt, plan.zone)}`} (${policyNames(plan)})`,
  );
  const replayed = await replay(ctx, plan, m);
  // process.uptime() counts from the process start: the hit's whole cost.
  // (performance.now() would too, but loads perf_hooks on the hit path.)
  if (replayed !== null) {
    const saved = Math.round(m.durationMs - process.uptime() * 1000);
    recordEvent(plan.store.root, { t: plan.now, k: plan.key, e: 'hit', saved, ...(remote ? { remote: true } : {}) });
  }
  return replayed;
}

// Creates the cache directory; false, with one warning, if it cannot be used.
function prepareStore(ctx: RunContext, plan: Plan): boolean {
  try {
    plan.store.prepare();
    return true;
  } catch (err) {
    ctx.output.alert('cache', `cannot use the cache directory ${plan.store.root} (${describeError(err)}); running without the cache`);
    return false;
  }
}

// Replays an entry; null when it turned out unusable before any byte was
// written (the entry is then dropped or left, and the command runs).
async function replay(ctx: RunContext, plan: Plan, manifest: Manifest): Promise<number | null> {
  const { output } = ctx;
  const { store, key } = plan;
  const sinks = { stdout: new FdSink(1, ctx.stdout), stderr: new FdSink(2, ctx.stderr) };
  const result = await replayEntry(store, manifest, sinks, plan.cwd);
  if (result.ok) return manifest.exitCode;
  switch (result.reason) {
    case 'closed':
      return EXIT_BROKEN_PIPE;
    case 'bad-before-output':
      output.warn(`dropped a bad cache entry (${result.detail}); running the command`);
      store.dropEntry(manifest, key, result.hash);
      return null;
    case 'unsafe-output':
      output.warn(
        `refused a cache entry that would write '${result.path}' outside the declared outputs or the working directory; running the command`,
      );
      store.dropEntry(manifest, key, null);
      return null;
    case 'restore-failed':
      output.warn(`cannot restore the output files (${result.detail}); running the command`);
      return null;
    case 'bad-during-output':
      store.dropEntry(manifest, key, result.hash);
      throw new ExitError(
        `the cached output was found corrupt while replaying it (${result.detail}); ` +
          'the entry is dropped, and the next run will execute the command',
        EXIT_DCACHE_FAILED,
      );
    default:
      return unreachable(result);
  }
}

async function record(
  ctx: RunContext,
  plan: Plan,
  usable: boolean,
  checked: SourceCheck[] | null,
  fallback: Manifest | null,
): Promise<{ exitCode: number; manifest: Manifest | null }> {
  const { output } = ctx;
  const { store } = plan;
  const done = (exitCode: number, manifest: Manifest | null = null) => ({ exitCode, manifest });
  // Sources are fingerprinted before the run: a change during the run makes
  // the next call run again rather than trust what this one saw.
  const checks = checked ?? (plan.watch.sources.length > 0 ? await checkSources(plan, [], output) : []);
  const capture = usable ? new Capture(store) : null;
  // The command's output goes to our descriptors through the thread pool:
  // a reader that stops reading never stalls the lock's heartbeat.
  const out = new DescriptorStream(1).on('error', () => {});
  const err = new DescriptorStream(2).on('error', () => {});
  const started = performance.now();
  let result;
  try {
    result = await runCommand({
      argv: plan.command,
      shell: plan.options.shell,
      stdinFile: plan.stdin?.path ?? null,
      cwd: plan.cwd,
      env: plan.commandEnv,
      stdout: out,
      stderr: err,
      capture,
      interrupts: ctx.interrupts,
    });
  } catch (error) {
    await capture?.discard();
    throw error;
  } finally {
    await Promise.all([out.flushed(), err.flushed()]);
  }
  const durationMs = Math.round(performance.now() - started);
  const { outcome } = result;
  switch (outcome.kind) {
    case 'not-found':
    case 'not-executable':
    case 'spawn-failed':
      output.error(outcome.message);
      break;
    case 'exited':
    case 'signaled':
      break;
  }
  // --stale-if-error: a run that failed (not one that was interrupted)
  // gives way to the last successful entry.
  const failed = outcome.kind !== 'signaled' && outcome.exitCode !== 0;
  if (failed && plan.options.staleIfError && fallback !== null) {
    await capture?.discard();
    output.warn(
      `the command failed (exit ${outcome.exitCode}); replaying the entry recorded ` +
        `${formatAge(plan.now - fallback.recordedAt)} ago (${formatInstant(fallback.recordedAt, plan.zone)}) instead (--stale-if-error)`,
    );
    return done((await replay(ctx, plan, fallback)) ?? outcome.exitCode);
  }
  const worthRecording =
    outcome.kind === 'exited' && result.delivered && (outcome.exitCode === 0 || plan.options.cacheFailures);
  if (capture === null) return done(outcome.exitCode);
  if (!worthRecording) {
    await capture.discard();
    return done(outcome.exitCode);
  }
  try {
    // Output files are captured only after a successful run: a failed one
    // is replayed as stdout, stderr and its exit code alone.
    const outputs =
      outcome.exitCode === 0 ? await captureOutputs(store, plan.cwd, plan.material.outputs) : { ok: true as const, value: [] };
    if (!outputs.ok) {
      await capture.discard();
      const problem = outputs.error;
      switch (problem.reason) {
        case 'missing':
          output.alert('not-recorded', `declared output '${problem.path}' does not exist after the run; nothing was recorded`);
          break;
        case 'outside':
          output.alert(
            'not-recorded',
            `declared output '${problem.path}' lies outside the working directory through a symlink; nothing was recorded`,
          );
          break;
        case 'failed':
          output.alert('not-recorded', `cannot capture the output files (${problem.detail}); nothing was recorded`);
          break;
      }
      return done(outcome.exitCode);
    }
    const streams = await capture.finish();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      key: plan.key,
      material: plan.material,
      recordedAt: plan.now,
      durationMs,
      exitCode: outcome.exitCode,
      policies: plan.policies.map((p) => p.spec),
      tz: plan.zoneName,
      ...streams,
      outputs: outputs.value,
      validators: checks.map((c) => recordable(c.source, c.current)),
    };
    store.publishManifest(manifest);
    return done(outcome.exitCode, manifest);
  } catch (err) {
    await capture.discard();
    output.warnOnce('cache', `the run was not recorded (${describeError(err)})`);
    return done(outcome.exitCode);
  }
}

// The automatic clean-up: after a miss's output is done, at most once an
// hour, down to the configured size (default 10 GiB). Never fails the run.
async function collectNowAndThen(ctx: RunContext, plan: Plan): Promise<void> {
  let maxSize = DEFAULT_MAX_SIZE;
  const parsed = parseSize(plan.options.maxSize);
  if (!parsed.ok) {
    ctx.output.warnOnce('max-size', `the size limit ${parsed.error}; using the default, ${formatSize(DEFAULT_MAX_SIZE)}`);
  } else {
    maxSize = parsed.value;
  }
  try {
    await autoCollect(plan.store, maxSize, plan.now);
  } catch (err) {
    ctx.output.warnOnce('gc', `automatic clean-up failed (${describeError(err)})`);
  }
}

function policyNames(plan: Plan): string {
  return plan.policies.map((p) => p.spec).join(', ');
}
