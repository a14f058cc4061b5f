import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, linkSync, openSync, readSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from './make-dirs.js';
import { formatAge } from '../../policy/duration.js';
import { parseDocument, SMALL_DOCUMENT_LIMITS } from '../../core/json-document.js';
import type { Host } from '../../ports/host.js';
import { keepLease, sleep, type HeldLock, type HolderInfo, type LeaseTiming, type LockNote, type LockOutcome, type WaitHooks } from '../../ports/lease.js';

// Single flight on this machine (and on a cache directory shared over NFS):
// one process per key records, the others wait and replay.
//
// The lock is a file, locks/<key>.lock, holding its owner's host, pid and a
// random token. It is created whole, with link(2) from a private temp file
// (atomic, and safe on NFS), so it is never seen half-written. The holder
// renews its lease by touching the file's mtime every heartbeat, after
// checking that the file still holds its token. A waiter takes the lock
// over when its holder's pid no longer runs on this host (kill -9, a crash),
// or when its mtime is older than the lease (a holder stopped, frozen or
// gone on another host).
//
// Two waiters must not both take over, and nobody may remove a lock that is
// not the one judged: removals (take-over and release) happen only while
// holding a second lock file, <key>.lock.break, and only after checking,
// under it, that the lock is still the very one judged.

interface Owner {
  v: 1;
  host: string;
  pid: number;
  token: string;
  since: number;
  // a background refresh, and how long it may run
  refresh?: { limitMs: number };
  // a look at who holds the lock, given back at once
  probe?: true;
}

interface Observed {
  raw: string;
  owner: Owner | null;
  mtimeMs: number;
}

// link(2) is refused by a few file systems (some FUSE and SMB mounts): there
// the lock is created with O_EXCL and written in place.
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

// Takes the key's lock, waiting for its holder as `hooks` and `timing` say.
export async function lockKey(
  root: string,
  key: string,
  timing: LeaseTiming,
  me: Host,
  hooks: WaitHooks,
  note: LockNote = { refreshLimitMs: null },
): Promise<LockOutcome> {
  const dir = join(root, 'locks');
  makeDirs(dir, 0o700);
  const path = join(dir, `${key}.lock`);
  const owner: Owner = {
    v: 1,
    host: me.hostname,
    pid: me.pid,
    token: randomUUID(),
    since: me.wallNow(),
    ...(note.refreshLimitMs !== null ? { refresh: { limitMs: note.refreshLimitMs } } : {}),
    ...(note.probe === true ? { probe: true as const } : {}),
  };
  const started = me.wallNow();
  let told = false;
  let lastProgress = started;
  const takenOver = new Set<string>();
  for (;;) {
    if (createLock(path, owner)) return { kind: 'held', lock: holdFileLock(path, owner, told, timing, me, hooks) };
    const current = readLock(path);
    if (current === null) continue;
    if (current.owner !== null) hooks.onHolder?.(current.owner.token);
    const holder = describeHolder(current.owner, me);
    const stale = judgeStale(current, timing, me);
    if (stale !== null) {
      if (!takenOver.has(current.raw)) {
        takenOver.add(current.raw);
        hooks.onTakeover(holder, stale);
      }
      if (breakLock(path, current, timing, me)) continue;
    } else if (!told) {
      told = true;
      hooks.onWait(holder, infoOf(current.owner));
    }
    const now = me.wallNow();
    if (now - started >= timing.maxWaitMs) {
      hooks.onTimeout(holder, now - started);
      return { kind: 'timed-out' };
    }
    if (told && now - lastProgress >= timing.progressMs) {
      lastProgress = now;
      hooks.onProgress(holder, now - started, infoOf(current.owner));
    }
    await sleep(timing.pollMs);
    if (await hooks.giveUp()) return { kind: 'gave-up' };
  }
}

// The lock held: renewed by touching its mtime every heartbeat, after
// checking that the file still holds our token; released under the
// breaker, only if it is still ours (see keepLease).
function holdFileLock(path: string, owner: Owner, waited: boolean, timing: LeaseTiming, me: Host, hooks: WaitHooks): HeldLock {
  return keepLease(
    {
      heartbeatMs: timing.heartbeatMs,
      elapsedMs: () => me.elapsedMs(),
      renew: () => {
        // (an I/O error throws: tried again at the next heartbeat)
        const current = readLock(path);
        if (current?.owner?.token !== owner.token) {
          return current === null ? 'the lock was removed while this process held it' : `${describeHolder(current.owner, me)} took the lock over while this process held it`;
        }
        try {
          const now = new Date(me.wallNow());
          utimesSync(path, now, now);
        } catch {
          // the next heartbeat tries again; the lease covers a few misses
        }
        return null;
      },
      giveBack: () =>
        withBreaker(path, timing, me, () => {
          const current = readLock(path);
          if (current?.owner?.token === owner.token) rmSync(path, { force: true });
        }),
      onLost: (why) => hooks.onLost(why),
    },
    waited,
    owner.token,
  );
}

// A stale storm (fifty callers of a stale entry at once, under
// --stale-while-revalidate) starts one background refresh: the caller that
// starts it first claims the key's refresh, with a file created whole and
// exclusively (locks/<key>.refresh). The claim bridges the time until the
// refresh holds the key's lock (then its holder is seen); the refresh
// removes it when it ends. One left by a refresh that died before it took
// the lock is taken over after CLAIM_MS.
const CLAIM_MS = 30_000;

export function claimRefresh(root: string, key: string, me: Host): boolean {
  const dir = join(root, 'locks');
  makeDirs(dir, 0o700);
  const path = join(dir, `${key}.refresh`);
  const owner: Owner = { v: 1, host: me.hostname, pid: me.pid, token: randomUUID(), since: me.wallNow() };
  if (createLock(path, owner)) return true;
  const current = readLock(path);
  if (current === null || me.wallNow() - current.mtimeMs <= CLAIM_MS) return false;
  // (only the claim judged old is removed; a new one differs)
  if (readLock(path)?.raw === current.raw) rmSync(path, { force: true });
  return createLock(path, owner);
}

export function dropRefreshClaim(root: string, key: string): void {
  rmSync(join(root, 'locks', `${key}.refresh`), { force: true });
}

// Creates the lock whole; false if it exists.
function createLock(path: string, owner: Owner): boolean {
  const temp = `${path}.${owner.token}.new`;
  writeFileSync(temp, JSON.stringify(owner), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINK.has(code)) throw err;
    return createInPlace(path, owner);
  } finally {
    rmSync(temp, { force: true });
  }
}

function createInPlace(path: string, owner: Owner): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeFileSync(fd, JSON.stringify(owner));
  } finally {
    closeSync(fd);
  }
  return true;
}

// The lock as it is now (content and mtime of one file), or null if there is none.
function readLock(path: string): Observed | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const { mtimeMs } = fstatSync(fd);
    const buffer = Buffer.alloc(4096);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const raw = buffer.subarray(0, n).toString('utf8');
    return { raw, owner: parseOwner(raw), mtimeMs };
  } finally {
    closeSync(fd);
  }
}

// (null while it is being written in place, or when it is not ours)
function parseOwner(raw: string): Owner | null {
  const parsed = parseDocument(raw, SMALL_DOCUMENT_LIMITS);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return null;
  const value = parsed.value as Partial<Owner>;
  return typeof value.host === 'string' && Number.isInteger(value.pid) && typeof value.token === 'string' ? (value as Owner) : null;
}

// Why a lock may be taken over, or null while its holder is alive.
function judgeStale(lock: Observed, timing: LeaseTiming, me: Host): string | null {
  const { owner } = lock;
  if (owner !== null && owner.host === me.hostname && owner.pid !== me.pid && !me.isRunning(owner.pid)) {
    return 'it is no longer running';
  }
  const idle = me.wallNow() - lock.mtimeMs;
  if (idle > timing.leaseMs) return `it has not renewed its lock for ${formatAge(idle)} (stopped, frozen or cut off)`;
  return null;
}

export function describeHolder(owner: Owner | null, me: { hostname: string }): string {
  if (owner === null) return 'another process';
  const process = owner.host === me.hostname ? `process ${owner.pid}` : `process ${owner.pid} on ${owner.host}`;
  return owner.refresh ? `a background refresh (${process})` : process;
}

// What a waiter may say of the holder (see HolderInfo).
function infoOf(owner: Owner | null): HolderInfo | undefined {
  if (owner === null || !Number.isFinite(owner.since)) return undefined;
  const limitMs = owner.refresh?.limitMs;
  return { host: owner.host, pid: owner.pid, since: owner.since, refresh: typeof limitMs === 'number' ? { limitMs } : null, probe: owner.probe === true };
}

// Removes a stale lock, if it is still the one judged; false when another
// waiter is doing so (the caller looks again at its next poll).
function breakLock(path: string, judged: Observed, timing: LeaseTiming, me: Host): boolean {
  return tryBreaker(path, timing, me, () => {
    const current = readLock(path);
    if (current !== null && current.raw === judged.raw && judgeStale(current, timing, me) !== null) {
      rmSync(path, { force: true });
    }
  });
}

// Runs `work` holding the breaker, waiting for it up to a lease.
async function withBreaker(path: string, timing: LeaseTiming, me: Host, work: () => void): Promise<void> {
  const deadline = me.wallNow() + timing.leaseMs;
  while (!tryBreaker(path, timing, me, work)) {
    if (me.wallNow() > deadline) return;
    await sleep(timing.pollMs);
  }
}

// Runs `work` if the breaker can be had at once; false if not. A breaker
// older than the lease was left by a process that died while breaking.
function tryBreaker(path: string, timing: LeaseTiming, me: Host, work: () => void): boolean {
  const breaker = `${path}.break`;
  const owner: Owner = { v: 1, host: me.hostname, pid: me.pid, token: randomUUID(), since: me.wallNow() };
  if (!createLock(breaker, owner)) {
    const current = readLock(breaker);
    if (current !== null && judgeStale(current, timing, me) !== null) {
      // Only the breaker seen is removed: if another process has just made a
      // new one, its content differs and it stays.
      const again = readLock(breaker);
      if (again?.raw === current.raw) rmSync(breaker, { force: true });
    }
    return false;
  }
  try {
    work();
    return true;
  } finally {
    rmSync(breaker, { force: true });
  }
}
