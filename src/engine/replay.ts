import { tookHotPath } from '../core/hot-path.js';
import { formatInstant } from '../policy/clock.js';
import { formatAge } from '../policy/duration.js';
import type { Manifest } from '../schema/manifest.js';
import type { Decision } from './decide.js';
import { BrokenReplay, type Flow } from './flow.js';
import type { Replayed } from './recipe.js';
import { describeRunning, lockHolderInfo } from './single-flight.js';
import { producing } from './wording.js';

// Replaying what is stored: a fresh entry (a hit), a stale one while a
// refresh runs (--stale-while-revalidate), the failure of the run a call
// waited for. Each says its line before the value is out.

// Replays an entry; null when it turned out unusable before anything was
// written (the entry is then dropped or left, and the work runs).
export async function replayEntry<R>(flow: Flow<R>, entry: Manifest): Promise<R | null> {
  const { store, key, material } = flow.call;
  const blobs = store.openBlobs(entry);
  if (!('fd' in blobs)) {
    flow.reporter.warn(`dropped a bad cache entry (${blobs.detail}); ${producing(material)}`);
    store.dropEntry(entry, key, blobs.missing);
    return null;
  }
  let replayed: Replayed<R>;
  try {
    replayed = await flow.recipe.replay(entry, blobs);
  } finally {
    blobs.close();
  }
  switch (replayed.kind) {
    case 'done':
      return replayed.result;
    case 'unusable':
      flow.reporter.warn(replayed.warning);
      if (replayed.drop) store.dropEntry(entry, key, replayed.badBlob);
      return null;
    case 'broken':
      store.dropEntry(entry, key, replayed.badBlob);
      throw new BrokenReplay(replayed.detail);
  }
}

// Replays a fresh entry and counts the hit; null if it proved unusable.
export async function replayHit<R>(flow: Flow<R>, entry: Manifest, expiresAt: number | null, fromRemote: boolean): Promise<R | null> {
  const { call } = flow;
  const now = call.clock();
  flow.reporter.info(
    `${fromRemote ? `hit on the remote cache ${call.remote?.label}` : 'hit'}: recorded ${formatAge(now - entry.recordedAt)} ago (${formatInstant(entry.recordedAt, call.zone)})` +
      `${entry.exitCode === 0 ? '' : `, a failure (exit ${entry.exitCode})`}, ` +
      `fresh ${expiresAt === null ? 'forever' : `until ${formatInstant(expiresAt, call.zone)}`} (${call.policies.map((p) => p.spec).join(', ')})`,
  );
  const result = await replayEntry(flow, entry);
  if (result !== null && !call.refreshing) {
    // the time since this process started is the hit's whole cost
    const saved = Math.round(entry.durationMs - call.host.elapsedMs());
    call.store.recordEvent({ t: now, k: call.key, e: 'hit', saved, r: entry.recordedAt, ...(fromRemote ? { remote: true } : {}) });
    tookHotPath();
  }
  return result;
}

// Replays a stale entry at once and has it refreshed in the background,
// unless a refresh (or a run) of it is already under way on this machine.
export async function replayStale<R>(flow: Flow<R>, entry: Manifest, why: string): Promise<R | null> {
  const { call, reporter } = flow;
  const now = call.clock();
  // Said before the replayed output, as a hit's line is; what became of
  // the refresh is known only after it, and follows it, as a miss's
  // closing line follows the command's output.
  reporter.info(`stale hit: recorded ${formatAge(now - entry.recordedAt)} ago (${formatInstant(entry.recordedAt, call.zone)}), ${why}`);
  // replayed first: the refresh runs the command, which may rewrite the
  // output files being restored
  const result = await replayEntry(flow, entry);
  if (result === null) return null;
  const saved = Math.round(entry.durationMs - call.host.elapsedMs());
  call.store.recordEvent({ t: now, k: call.key, e: 'hit', saved, r: entry.recordedAt });
  const holder = await lockHolderInfo(call);
  if (holder !== null) reporter.info(`a refresh is already running (${describeRunning(holder, call)})`);
  // one refresh per storm: of the stale callers at once, the one that claims it starts it
  else if (!call.store.claimRefresh(call.key)) reporter.info('a refresh is already starting');
  else {
    const pid = await flow.deps.startRefresh!();
    if (pid === null) call.store.dropRefreshClaim(call.key);
    reporter.info(pid === null ? 'the refresh could not be started' : `refreshing in the background (pid ${pid})`);
  }
  return result;
}

// Hands a call the failure of the run it waited for: its output and exit
// code, replayed; or, with --stale-if-error, the entry that stands in for a
// failure. Null if it cannot be replayed (the call then runs).
export async function replayFailure<R>(flow: Flow<R>, failure: Manifest, decision: Decision): Promise<R | null> {
  const { call, reporter } = flow;
  const fallback = !decision.fresh && decision.entry?.exitCode === 0 ? decision.entry : null;
  if (call.staleIfError && fallback !== null) {
    // stale output served: said even with -q
    reporter.alert(
      'stale-if-error',
      `the run this call waited for failed (exit ${failure.exitCode}); replaying the entry recorded ` +
        `${formatAge(call.clock() - fallback.recordedAt)} ago (${formatInstant(fallback.recordedAt, call.zone)}) instead (--stale-if-error)`,
    );
    const stood = await replayEntry(flow, fallback);
    if (stood !== null) return stood;
  }
  reporter.info(`the run this call waited for failed (exit ${failure.exitCode}); replaying its output, which is not recorded`);
  const blobs = call.store.openBlobs(failure);
  if (!('fd' in blobs)) return null;
  try {
    const replayed = await flow.recipe.replay(failure, blobs);
    if (replayed.kind === 'broken') throw new BrokenReplay(replayed.detail);
    return replayed.kind === 'done' ? replayed.result : null;
  } finally {
    blobs.close();
  }
}
