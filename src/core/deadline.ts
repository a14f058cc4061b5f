// Deadlines for network operations (a remote's requests, a watched URL or
// object) that do not count the time in which this process's event loop was
// held up.
//
// A process whose loop does not run for a while (more processes than cores,
// as when a cron minute starts dozens of jobs on one machine; a process that
// was stopped; its own synchronous work, a GC pause) would otherwise give up
// on an answer that reached its socket long ago: when it runs again, libuv
// fires overdue timers before it reads its sockets. So a small ticker runs
// while any deadline is armed and measures how late it wakes; that lateness
// counts against no deadline, up to a bound in wall time (STRETCH times the
// budget), so that no wait is unbounded. (Lateness, not CPU time: from
// inside, a loop that waited for a CPU and one that was busy look alike.)
// And a deadline that has run out first lets the sockets be read once
// (setImmediate runs after libuv's poll phase), so that an answer already
// there is taken rather than dropped.

// how often the ticker wakes while a deadline is armed
const TICK_MS = 20;
// lateness of a tick below this is the timers' own jitter, not a stall
const JITTER_MS = 10;
// a deadline gives up after this many times its budget in wall time, however
// little of it the process could run
export const STRETCH = 5;

let armed = 0;
let ticker: NodeJS.Timeout | null = null;
// when the next tick is due, and the stall measured so far
let nextTickAt = 0;
let stalledMs = 0;

function sample(): void {
  const now = performance.now();
  const late = now - nextTickAt;
  if (late > JITTER_MS) stalledMs += late;
  if (late > 0) nextTickAt = now;
}

function tick(): void {
  sample();
  nextTickAt = performance.now() + TICK_MS;
  ticker = setTimeout(tick, TICK_MS);
  // the ticker alone never keeps the process alive
  ticker.unref();
}

function startTicker(): void {
  if (armed++ > 0) return;
  nextTickAt = performance.now() + TICK_MS;
  ticker = setTimeout(tick, TICK_MS);
  ticker.unref();
}

function stopTicker(): void {
  if (--armed > 0) return;
  if (ticker !== null) clearTimeout(ticker);
  ticker = null;
}

export interface Deadline {
  // stops the deadline; `onExpire` will not be called
  cancel(): void;
}

// Calls `onExpire` once the process has run for `budgetMs` since now (or
// STRETCH times that has passed on the clock), unless cancelled first.
export function armDeadline(budgetMs: number, onExpire: () => void): Deadline {
  startTicker();
  // a stall before now (the ticker overdue) is not this deadline's
  sample();
  const startedAt = performance.now();
  const stalledAtStart = stalledMs;
  let live = true;
  let timer: NodeJS.Timeout | undefined;
  let last: NodeJS.Immediate | undefined;
  const finish = () => {
    if (!live) return;
    live = false;
    stopTicker();
  };
  const check = () => {
    if (!live) return;
    sample();
    const elapsed = performance.now() - startedAt;
    const ran = elapsed - (stalledMs - stalledAtStart);
    const wallLeft = budgetMs * STRETCH - elapsed;
    if (ran < budgetMs && wallLeft > 0) {
      timer = setTimeout(check, Math.max(1, Math.min(budgetMs - ran, wallLeft)));
      return;
    }
    // an answer that arrived while the process was not running is read first
    last = setImmediate(() => {
      if (!live) return;
      finish();
      onExpire();
    });
  };
  timer = setTimeout(check, budgetMs);
  return {
    cancel() {
      if (!live) return;
      finish();
      clearTimeout(timer);
      clearImmediate(last);
    },
  };
}

export class DeadlineError extends Error {
  constructor() {
    super('deadline');
  }
}

// Settles like `promise`, or rejects with a DeadlineError once the deadline
// of `budgetMs` has passed (armDeadline), calling `onExpire` first. Nothing
// is left to keep the process alive either way.
export function raceDeadline<T>(promise: Promise<T>, budgetMs: number, onExpire: () => void = () => {}): Promise<T> {
  let deadline: Deadline | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    deadline = armDeadline(budgetMs, () => {
      onExpire();
      reject(new DeadlineError());
    });
  });
  // a rejection after the deadline has nobody to tell
  promise.catch(() => {});
  return Promise.race([promise, expired]).finally(() => deadline!.cancel());
}

// An AbortSignal that aborts at the deadline, for fetch and node:http
// (in place of AbortSignal.timeout, which counts wall time). `done` must be
// called once the operation is over.
export function deadlineSignal(budgetMs: number): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const deadline = armDeadline(budgetMs, () => controller.abort(new DOMException('The operation timed out.', 'TimeoutError')));
  return { signal: controller.signal, done: () => deadline.cancel() };
}

// Gives up on a transfer that stalls: every `windowMs` of this process's
// running time (a stall of its own loop is not the sender's), at least
// `minBytes` must have moved, or what was left of the transfer if that is
// less; otherwise `onStall` is called, once. A sender that drips a byte a
// second, or stops, is found out within one window, whatever size it
// claimed. `stop` ends the watch.
export function watchProgress(
  windowMs: number,
  minBytes: number,
  totalBytes: number,
  onStall: (movedInWindow: number, wanted: number) => void,
): { moved(bytes: number): void; stop(): void } {
  let moved = 0;
  let atWindowStart = 0;
  let deadline: Deadline | null = null;
  const arm = () => {
    deadline = armDeadline(windowMs, () => {
      const inWindow = moved - atWindowStart;
      const wanted = Math.min(minBytes, Math.max(1, totalBytes - atWindowStart));
      if (inWindow < wanted) {
        deadline = null;
        onStall(inWindow, wanted);
        return;
      }
      atWindowStart = moved;
      arm();
    });
  };
  arm();
  return {
    moved(bytes: number) {
      moved += bytes;
    },
    stop() {
      deadline?.cancel();
      deadline = null;
    },
  };
}
