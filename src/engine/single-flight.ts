import { describeError } from '../core/errors.js';
import { formatAge } from '../policy/duration.js';
import type { SharedTier } from '../ports/tiers.js';
import type { Call } from './call.js';
import type { HeldLock, HolderInfo, LockNote, LockOutcome, WaitHooks } from '../ports/lease.js';
import { formatInstant } from '../policy/clock.js';
import type { Reporter } from '../ports/reporter.js';
import { producing } from './wording.js';

// Single flight: concurrent calls of one key run it once. The first takes
// the key's lock here (and on the shared cache, where it has locks); the
// others wait, and replay what it recorded.

// Takes the key's lock in the local store; null (with one warning) when the
// lock itself cannot be made, and the work then runs without it.
export async function lockLocally(
  call: Call,
  reporter: Reporter,
  giveUp: () => boolean,
  onHolder?: (id: string) => void,
  note?: LockNote,
): Promise<LockOutcome | null> {
  try {
    const hooks = waitHooks(reporter, null, call, giveUp);
    return await call.store.lockKey(call.key, call.lease, call.host, onHolder ? { ...hooks, onHolder } : hooks, note);
  } catch (err) {
    reporter.warnOnce('cache', `cannot lock the cache entry (${describeError(err)}); running without waiting`);
    return null;
  }
}

// Who holds the key's lock on this machine, without waiting: a description
// of the holder, or null when it is free (it is then taken and given back at
// once) or cannot be made.
export async function lockHolder(call: Call): Promise<string | null> {
  return (await lockHolderInfo(call))?.holder ?? null;
}

// A holder found running, for a line: its process, and how long it has run
// where the lock tells ("process 4242, for 12s").
export function describeRunning(found: { holder: string; about: HolderInfo | undefined }, call: Call): string {
  const { about } = found;
  if (about === undefined) return found.holder;
  const where = about.host === call.host.hostname ? '' : ` on ${about.host}`;
  return `process ${about.pid}${where}, for ${formatAge(call.host.wallNow() - about.since)}`;
}

// The same, with what the holder wrote of itself, where the lock tells.
export async function lockHolderInfo(call: Call): Promise<{ holder: string; about: HolderInfo | undefined } | null> {
  let holder: string | null = null;
  let info: HolderInfo | undefined;
  const seen = (h: string, about?: HolderInfo) => {
    holder = h;
    info ??= about;
  };
  const hooks: WaitHooks = { onWait: seen, onProgress: () => {}, onTakeover: () => {}, onTimeout: (h) => seen(h), giveUp: () => true, onLost: () => {} };
  try {
    const outcome = await call.store.lockKey(call.key, { ...call.lease, maxWaitMs: 0 }, call.host, hooks, { refreshLimitMs: null, probe: true });
    if (outcome.kind === 'held') {
      await outcome.lock.release();
      return null;
    }
    // another caller's look, at the same instant, is not a producer
    if (info?.probe === true) return null;
    return { holder: holder ?? 'another process', about: info };
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

// A wait this long is said without -v: nobody waits on what they cannot see.
export const WAIT_NOTICE_MS = 8_000;

// What a waiter says under -v: whom it waits for, every few seconds for how
// long, and why it takes a lock over. The first word on its progress after
// WAIT_NOTICE_MS (10 s with the default timers) is said without -v, naming
// the holder: its process and host, when it started, and whether it is a
// background refresh. The longest wait is warned about.
function waitHooks(reporter: Reporter, where: string | null, call: Call, giveUp: (now?: boolean) => boolean | Promise<boolean>): WaitHooks {
  const name = (holder: string) => (where === null ? holder : `${where} (${holder})`);
  const doing = call.material.kind === 'function' ? 'calling the function with the same arguments' : 'running the same command';
  let noticed = false;
  return {
    onWait: (holder) => reporter.info(`waiting for ${name(holder)}, which is ${doing}`),
    onProgress: (holder, waitedMs, about) => {
      if (noticed || waitedMs < WAIT_NOTICE_MS) return reporter.info(`still waiting for ${name(holder)}, for ${formatAge(waitedMs)} now`);
      noticed = true;
      reporter.warn(waitNotice(call, name(holder), waitedMs, doing, about));
    },
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

// The line a long wait says: whom it waits for, as fully as the lock tells.
function waitNotice(call: Call, holder: string, waitedMs: number, doing: string, about: HolderInfo | undefined): string {
  const waited = `waited ${formatAge(waitedMs)} so far`;
  if (about === undefined) return `waiting for ${holder}, which is ${doing}; ${waited}`;
  const who = `process ${about.pid} on ${about.host}`;
  const started = `started ${formatInstant(about.since, call.zone)} (${formatAge(call.host.wallNow() - about.since)} ago)`;
  if (about.refresh === null) return `waiting for ${who}, which is ${doing}, ${started}; ${waited}`;
  return (
    `waiting for a background refresh of this entry (${who}, ${started}); ${waited}. ` +
    `It is stopped once it has run ${formatAge(about.refresh.limitMs)} (DCACHE_REFRESH_LIMIT)`
  );
}

// Releases every lock still held, the last taken first; a release that
// fails leaves that lock to lapse.
export async function releaseAll(held: HeldLock[]): Promise<void> {
  for (const lock of held.splice(0).reverse()) await lock.release().catch(() => {});
}
