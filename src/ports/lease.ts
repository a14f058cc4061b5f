
// Single flight's timers, shared by the local lock and the remote ones. A
// holder renews its lease every `heartbeatMs`; a lease not renewed for
// `leaseMs` is taken over; a waiter checks every `pollMs`, says every
// `progressMs` how long it has waited, and after `maxWaitMs` stops waiting
// and runs the command itself.

export interface LeaseTiming {
  leaseMs: number;
  heartbeatMs: number;
  pollMs: number;
  progressMs: number;
  maxWaitMs: number;
}

export const DEFAULT_LEASE_MS = 10_000;
export const DEFAULT_MAX_WAIT_MS = 6 * 60 * 60 * 1000;

// The timers for a lease of `leaseMs`: renewed four times per lease, polled
// ten times per lease (at most every 200 ms, at least every 10 ms), progress
// every 5 s or every lease, whichever is shorter (but not under a second).
export function leaseTiming(leaseMs: number, maxWaitMs = DEFAULT_MAX_WAIT_MS, heartbeatMs?: number): LeaseTiming {
  return {
    leaseMs,
    heartbeatMs: heartbeatMs ?? Math.max(1, Math.round(leaseMs / 4)),
    pollMs: Math.min(200, Math.max(10, Math.round(leaseMs / 10))),
    progressMs: Math.max(1000, Math.min(5000, leaseMs)),
    maxWaitMs,
  };
}

export const DEFAULT_LEASE: LeaseTiming = leaseTiming(DEFAULT_LEASE_MS);

// What a waiter is told, and asked, while it waits for a lock. `holder`
// names whoever holds it ("process 4242", "process 4242 on build-3");
// `about` says more of it, where the lock knows (the local lock does).
export interface WaitHooks {
  // another holder was found; called once per wait
  onWait(holder: string, about?: HolderInfo): void;
  // every progressMs of waiting
  onProgress(holder: string, waitedMs: number, about?: HolderInfo): void;
  // a holder that died or stopped renewing is being taken over
  onTakeover(holder: string, why: string): void;
  // the wait passed maxWaitMs; the caller goes on without the lock
  onTimeout(holder: string, waitedMs: number): void;
  // asked after each poll: true (what we wait for is there) ends the wait.
  // A lock that costs a request to look at asks it less often, and then
  // with `now`: the answer is wanted now (before taking the lock), not
  // whenever it is next due.
  giveUp(now?: boolean): boolean | Promise<boolean>;
  // a lock we held was lost (taken over while we were stopped, say)
  onLost(why: string): void;
  // the run that holds the lock now, by its id (the local lock names it):
  // a waiter notes whom it waited for, to be given that run's outcome
  onHolder?(id: string): void;
}

// Who holds a lock, as its holder wrote it down.
export interface HolderInfo {
  host: string;
  pid: number;
  // when it took the lock (epoch ms, its clock)
  since: number;
  // it is a background refresh (--stale-while-revalidate, dcache warm),
  // stopped once it has run `limitMs`
  refresh: { limitMs: number } | null;
  // it is only asking who holds the lock (see LockNote.probe), for an instant
  probe: boolean;
}

// What a lock's holder says of itself to those who wait.
export interface LockNote {
  // a background refresh, stopped once it has run this long
  refreshLimitMs: number | null;
  // taken only to learn who holds it, and given back at once: whoever
  // sees it holding the lock is not to take it for a producer
  probe?: boolean;
}

export interface HeldLock {
  // whether another holder had it first (and may have recorded meanwhile)
  readonly waited: boolean;
  // this run's id, where the lock names it (the local lock): the callers
  // that wait for it are given its outcome under this id
  readonly id?: string;
  // why the lock was lost, once it has been
  lostReason(): string | null;
  // Gives the lock up, if it is still ours; never removes another holder's.
  release(): Promise<void>;
}

export type LockOutcome =
  | { kind: 'held'; lock: HeldLock }
  // giveUp() said what we waited for is there
  | { kind: 'gave-up' }
  // waited maxWaitMs
  | { kind: 'timed-out' };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// One wait for a lock that another holder has: says whom it waits for
// (once), how long every progressMs, and after maxWaitMs that the wait is
// over; between two looks at the lock it sleeps, then asks whether what it
// waits for is there.
export class Wait {
  private told = false;
  private lastProgress: number;

  constructor(
    private readonly started: number,
    private readonly timing: LeaseTiming,
    private readonly hooks: WaitHooks,
  ) {
    this.lastProgress = started;
  }

  // whether another holder was found in this wait
  get waited(): boolean {
    return this.told;
  }

  // After a look that found `holder` holding the lock at `now`: the outcome
  // that ends the wait (it timed out, or, `pollMs` later, gave up), or null
  // to look again. Without `askGiveUp`, the caller asks giveUp() itself
  // when it sees fit (a lock that costs a request to look at).
  async next(holder: string, now: number, pollMs: number, askGiveUp = true): Promise<LockOutcome | null> {
    if (!this.told) {
      this.told = true;
      this.hooks.onWait(holder);
    }
    if (now - this.started >= this.timing.maxWaitMs) {
      this.hooks.onTimeout(holder, now - this.started);
      return { kind: 'timed-out' };
    }
    if (now - this.lastProgress >= this.timing.progressMs) {
      this.lastProgress = now;
      this.hooks.onProgress(holder, now - this.started);
    }
    await sleep(pollMs);
    return askGiveUp && (await this.hooks.giveUp()) ? { kind: 'gave-up' } : null;
  }

  // The time waited so far, at `now`.
  waitedAt(now: number): number {
    return now - this.started;
  }
}

// How one lock kind keeps its lease (see keepLease).
export interface LeaseKeeping {
  heartbeatMs: number;
  // a clock that only goes forward (ms), for the heartbeat
  elapsedMs(): number;
  // Renews the lease once: null while it is still ours, why it was lost
  // otherwise. A throw (an I/O error, a remote that did not answer) is
  // tried again at the next heartbeat: the lease covers a few misses.
  renew(): Promise<string | null> | string | null;
  // Gives the lease back; called once, and only if it was not lost.
  giveBack(): Promise<void> | void;
  // the lease was lost (taken over while this process was stopped, say)
  onLost(why: string): void;
}

// The one lease loop of the three lock kinds (a file, Redis, a bucket): a
// renewal every heartbeat, each due a heartbeat after the one before it
// started however long that one took to be answered, and never two at
// once; a renewal that finds the lease gone says so once and stops; a
// release waits for a renewal in flight, then gives the lease back unless
// it was lost. `stop` ends the renewals without giving it back (it lapses).
export function keepLease(keeping: LeaseKeeping, waited: boolean, id?: string): HeldLock & { stop(): void } {
  let lost: string | null = null;
  let held = true;
  let timer: NodeJS.Timeout | null = null;
  let renewing: Promise<void> = Promise.resolve();
  const stop = () => {
    held = false;
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const schedule = (ms: number) => {
    timer = setTimeout(beat, ms);
    timer.unref();
  };
  function beat(): void {
    timer = null;
    if (!held) return;
    const due = keeping.elapsedMs() + keeping.heartbeatMs;
    renewing = Promise.resolve()
      .then(() => keeping.renew())
      .then((why) => {
        if (why === null || !held || lost !== null) return;
        lost = why;
        stop();
        keeping.onLost(why);
      })
      .catch(() => {})
      .finally(() => {
        if (held && lost === null) schedule(Math.max(0, due - keeping.elapsedMs()));
      });
  }
  schedule(keeping.heartbeatMs);
  return {
    waited,
    ...(id === undefined ? {} : { id }),
    lostReason: () => lost,
    stop,
    release: async () => {
      if (!held) return;
      stop();
      await renewing;
      if (lost === null) await keeping.giveBack();
    },
  };
}

// The leases a remote holds until each is given back or lost. close() (the
// remote's) stops their renewals; a lease given back after it lapses on its
// own, the connection being gone.
export class HeldLeases {
  private readonly held = new Set<{ stop(): void }>();
  private closed = false;

  keep(keeping: LeaseKeeping, waited: boolean): HeldLock {
    const lease = keepLease(
      {
        ...keeping,
        giveBack: async () => {
          this.held.delete(lease);
          if (!this.closed) await keeping.giveBack();
        },
        onLost: (why) => {
          this.held.delete(lease);
          keeping.onLost(why);
        },
      },
      waited,
    );
    this.held.add(lease);
    return lease;
  }

  close(): void {
    this.closed = true;
    for (const lease of this.held) lease.stop();
    this.held.clear();
  }
}
