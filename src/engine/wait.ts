import type { HeldLock } from '../ports/lease.js';
import { sameKeyMaterial } from '../schema/key.js';
import type { Manifest } from '../schema/manifest.js';
import type { Flow } from './flow.js';
import { lookUp, type Looked } from './lookup.js';
import { replayFailure, replayHit } from './replay.js';
import { lockLocally, lockShared, releaseAll } from './single-flight.js';

// Single flight: a call that finds another producing its entry (a process
// here, or another machine) waits for it and replays what it recorded, or
// the failure it ended with; a call that finds no one takes the locks and
// produces the entry itself.

export type Waited<R> =
  | { kind: 'replayed'; result: R }
  // No one else produced it: this call produces it, holding the locks put
  // in `held` (`runId`: its run's id, where the local lock names it).
  | { kind: 'produce'; looked: Looked; runId: string | null };

export async function waitForProducer<R>(flow: Flow<R>, first: Looked, usable: boolean, held: HeldLock[], refreshLimitMs: number | null): Promise<Waited<R>> {
  const { call, reporter, shared } = flow;
  let looked = first;
  const replayed = (result: R | null): Waited<R> | null => (result === null ? null : { kind: 'replayed', result });
  // the runs of this key this call waited for, by their lock's id
  const waitedFor = new Set<string>();
  const failureWaitedFor = (): Manifest | null => {
    if (waitedFor.size === 0) return null;
    const found = call.store.readOutcome(call.key, waitedFor);
    return found !== null && sameKeyMaterial(found.material, call.material) ? found : null;
  };
  // whether the manifest is no longer the version judged (a stat, not a read)
  const entryMoved = () => call.store.entryStamp(call.key) !== looked.stamp;
  let lock: HeldLock | null = null;
  let runId: string | null = null;
  // A process already producing this entry is waited for. It published
  // while we waited: replay without the lock, as all the other waiters do;
  // if that entry will not do, wait for the lock.
  while (usable) {
    const outcome = await lockLocally(call, reporter, () => entryMoved() || failureWaitedFor() !== null, (id) => waitedFor.add(id), { refreshLimitMs });
    if (outcome === null || outcome.kind === 'timed-out') break;
    // The run we waited for failed: its outcome is ours, as it is every
    // waiter's; but an entry recorded meanwhile (here, or shared by
    // another machine) is better than a failure.
    const failure = failureWaitedFor();
    if (failure !== null) {
      if (outcome.kind === 'held') await outcome.lock.release();
      looked = await lookUp(call, reporter, false);
      const done =
        (looked.decision.fresh ? replayed(await replayHit(flow, looked.decision.manifest, looked.decision.verdict.expiresAt, false)) : null) ??
        replayed((await shared?.pull(flow)) ?? null) ??
        replayed(await replayFailure(flow, failure, looked.decision));
      if (done !== null) return done;
      // it could not be replayed: this call runs, once it holds the lock
      waitedFor.clear();
      continue;
    }
    if (outcome.kind === 'held') {
      lock = outcome.lock;
      runId = lock.id ?? null;
      held.push(lock);
      break;
    }
    looked = await lookUp(call, reporter, false);
    if (looked.decision.fresh) {
      const again = replayed(await replayHit(flow, looked.decision.manifest, looked.decision.verdict.expiresAt, false));
      if (again !== null) return again;
      looked = await lookUp(call, reporter, false);
    }
  }
  // Another machine producing it, where the shared cache has locks.
  let sharedWaited = false;
  let sharedHeld = false;
  if (lock !== null && shared !== null) {
    const outcome = await lockShared(call, shared.tier, reporter, (now) => shared.hasFresh(flow, now));
    sharedWaited = outcome !== null && outcome.kind !== 'held';
    if (outcome?.kind === 'held') {
      sharedHeld = true;
      sharedWaited = outcome.lock.waited;
      held.push(outcome.lock);
    }
  }
  // Look again if someone may have recorded since we looked: we waited for
  // them, or the entry changed before we got the lock.
  if ((lock?.waited || sharedWaited || (lock !== null && entryMoved())) && !call.force) {
    looked = await lookUp(call, reporter, false);
    if (looked.decision.fresh) {
      await releaseAll(held);
      const again = replayed(await replayHit(flow, looked.decision.manifest, looked.decision.verdict.expiresAt, false));
      if (again !== null) return again;
    }
  }
  // Another machine may have shared the entry while we missed or waited:
  // look once more (one small request).
  if (shared !== null && !looked.decision.fresh && (lock?.waited || sharedHeld || sharedWaited)) {
    const pulled = replayed(await shared.pull(flow));
    if (pulled !== null) return pulled;
  }
  return { kind: 'produce', looked, runId };
}
