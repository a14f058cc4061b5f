import type { Reporter } from '../ports/reporter.js';
import { lookUpLocal } from '../engine/lookup.js';
import { describeRunning, lockHolderInfo } from '../engine/single-flight.js';
import { ExitError } from '../core/errors.js';
import { formatInstant } from '../policy/clock.js';
import { makeCommandCall, type CommandInputs } from './command-call.js';

export interface WarmContext extends CommandInputs {
  reporter: Reporter;
  spawnRefresh(): Promise<number | null>;
}

// dcache warm: the background refresh of --stale-while-revalidate, started
// now if the entry is not fresh (always with --force), for login scripts and
// cron lines that prepare the data before anyone asks. Returns at once and
// prints nothing on stdout; -v says what it did.
export async function warm(ctx: WarmContext): Promise<number> {
  const made = await makeCommandCall(ctx);
  if (!made.ok) throw new ExitError(made.error, 2);
  const call = made.value;
  try {
    if (call.stdin !== null) {
      throw new ExitError('warm: --stdin cannot be used; a refresh in the background has no standard input to read', 2);
    }
    if (!call.force) {
      const decision = await lookUpLocal(call, ctx.reporter);
      if (decision.fresh) {
        const until = decision.verdict.expiresAt;
        ctx.reporter.info(`fresh ${until === null ? 'forever' : `until ${formatInstant(until, call.zone)}`}; nothing to refresh`);
        return 0;
      }
    }
    const holder = await lockHolderInfo(call);
    if (holder !== null) {
      ctx.reporter.info(`a refresh is already running (${describeRunning(holder, call)})`);
      return 0;
    }
    if (!call.store.claimRefresh(call.key)) {
      ctx.reporter.info('a refresh is already starting');
      return 0;
    }
    const pid = await ctx.spawnRefresh();
    if (pid === null) {
      call.store.dropRefreshClaim(call.key);
      ctx.reporter.warn('the refresh could not be started');
      return 1;
    }
    ctx.reporter.info(`refreshing in the background (pid ${pid})`);
    return 0;
  } finally {
    call.stdin?.dispose();
  }
}
