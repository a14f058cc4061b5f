import { describeError } from '../errors.js';
import { formatAge } from '../policy/duration.js';
import type { SharedTier } from './tiers.js';
import type { Call } from './call.js';
import type { HeldLock, LockOutcome, WaitHooks } from './lease.js';
import type { Reporter } from './reporter.js';
import { producing } from './wording.js';

// Single flight: concurrent calls of one key run it once. The first takes
// the key's lock here (and on the shared cache, where it has locks); the
// others wait, and replay what it recorded.

// Takes the key's lock in the local store; null (with one warning) when the
// lock itself cannot be made, and the work then runs without it.
export async function lockLocally(call: Call, reporter: Reporter, giveUp: () => boolean, onHolder?: (id: string) => void): Promise<LockOutcome | null> {
  try {
    const hooks = waitHooks(reporter, null, call, giveUp);
    return await call.store.lockKey(call.key, call.lease, call.host, onHolder ? { ...hooks, onHolder } : hooks);
  } catch (err) {
    reporter.warnOnce('cache', `cannot lock the cache entry (${describeError(err)}); running without waiting`);
    return null;
  }
}

// Who holds the key's lock on this machine, without waiting: a description
// of the holder, or null when it is free (it is then taken and given back at
// once) or cannot be made.
export async function lockHolder(call: Call): Promise<string | null> {
  let holder: string | null = null;
  const seen = (h: string) => {
    holder = h;
  };
  const hooks: WaitHooks = { onWait: seen, onProgress: () => {}, onTakeover: () => {}, onTimeout: seen, giveUp: () => true, onLost: () => {} };
  try {
    const outcome = await call.store.lockKey(call.key, { ...call.lease, maxWaitMs: 0 }, call.host, hooks);
    if (outcome.kind === 'held') {
      await outcome.lock.release();
      return null;
    }
    return holder ?? 'another process';
  } catch {
    return null;
  }
}

// Takes the key's lock on the shared cache; null where it has none, or fails.
export function lockShared(
  call: Call,
  shared: SharedTier,
  reporter: Reporter,
  giveUp: (now?: boolean) => Promise<boolean>,
): Promise<LockOutcome | null> {
  return shared.lock(call.key, call.lease, call.host, waitHooks(reporter, 'another machine', call, giveUp));
}

// What a waiter says under -v: whom it waits for, every few seconds for how
// long, and why it takes a lock over; the longest wait is warned about.
function waitHooks(reporter: Reporter, where: string | null, call: Call, giveUp: (now?: boolean) => boolean | Promise<boolean>): WaitHooks {
  const name = (holder: string) => (where === null ? holder : `${where} (${holder})`);
  return {
    onWait: (holder) =>
      reporter.info(`waiting for ${name(holder)}, which is ${call.material.kind === 'function' ? 'calling the function with the same arguments' : 'running the same command'}`),
    onProgress: (holder, waitedMs) => reporter.info(`still waiting for ${name(holder)}, for ${formatAge(waitedMs)} now`),
    onTakeover: (holder, why) => reporter.info(`taking the lock over from ${name(holder)}: ${why}`),
    onTimeout: (holder, waitedMs) =>
      reporter.alert(
        'lock-wait',
        `waited ${formatAge(waitedMs)} for ${name(holder)}, the longest dcache waits (DCACHE_LOCK_MAX_WAIT, ` +
          `${formatAge(call.lease.maxWaitMs)}); ${producing(call.material)} without waiting`,
      ),
    giveUp,
    onLost: (why) => reporter.info(`lost the lock of this entry: ${why}; going on (what is recorded is published whole)`),
  };
}

// Releases every lock still held, the last taken first; a release that
// fails leaves that lock to lapse.
export async function releaseAll(held: HeldLock[]): Promise<void> {
  for (const lock of held.splice(0).reverse()) await lock.release().catch(() => {});
}
