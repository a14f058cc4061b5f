import { staleToServe } from '../engine/decide.js';
import { explainDecision } from '../engine/explain.js';
import { lockHolderInfo } from '../engine/single-flight.js';
import { formatAge } from '../policy/duration.js';
import { lookUpLocal, lookUpShared } from '../engine/lookup.js';
import type { Reporter } from '../ports/reporter.js';
import { ExitError } from '../core/errors.js';
import { formatInstant } from '../policy/clock.js';
import { RemoteSession } from '../store/remote/session.js';
import { escapeControls } from '../core/text.js';
import { makeCommandCall, type CommandInputs } from './command-call.js';
import { nearEntries } from './near.js';

export interface StatusContext extends CommandInputs {
  print: (line: string) => void;
  reporter: Reporter;
}

// dcache status: would `dcache run` with these options replay (exit 0) or
// run the command (exit 1)? Says why on stdout; never runs the command.
export async function status(ctx: StatusContext): Promise<number> {
  // Paths and sources in the lines may hold control characters.
  const print = (line: string) => ctx.print(escapeControls(line));
  const made = await makeCommandCall(ctx);
  if (!made.ok) throw new ExitError(made.error, 2);
  const call = made.value;
  try {
    // a question: nothing found bad is removed (run and gc do that)
    let decision = await lookUpLocal(call, ctx.reporter, call.force, false);
    let where = '';
    if (!decision.fresh && call.remote && !call.force) {
      const shared = new RemoteSession(call.remote, ctx.env, call.signing, ctx.reporter, call.store);
      const found = await lookUpShared(call, shared, ctx.reporter);
      await shared.close();
      if (found) {
        decision = found;
        where = ` on the remote cache ${call.remote.label}`;
      }
    }
    const stale = call.force ? null : staleToServe(decision, call.staleWhileRevalidateMs, call, call.clock());
    // --stale-while-revalidate: whether a refresh (or a run) is under way
    // here, since when, and when a background refresh is stopped
    // (asked only where it is shown: it takes the lock, and gives it back)
    const running = call.explain || stale !== null ? await lockHolderInfo(call) : null;
    const refresh = () => {
      if (running === null) return 'none running';
      const { holder, about } = running;
      if (about === undefined) return `running (${holder})`;
      const limit = about.refresh === null ? '' : `; stopped once it has run ${formatAge(about.refresh.limitMs)}`;
      return `running for ${formatAge(call.host.wallNow() - about.since)} (${holder}, started ${formatInstant(about.since, call.zone)}${limit})`;
    };
    if (call.explain) {
      for (const line of explainDecision(call, decision)) print(line);
      // a refresh under way is shown whatever the options
      if ((call.staleWhileRevalidateMs !== null && !decision.fresh) || running?.about?.refresh) print(`refresh: ${refresh()}`);
      return decision.fresh || stale !== null ? 0 : 1;
    }
    if (decision.fresh) {
      const { expiresAt } = decision.verdict;
      print(
        `fresh: would replay the entry${where} recorded ${formatInstant(decision.manifest.recordedAt, call.zone)}, ` +
          `fresh ${expiresAt === null ? 'forever' : `until ${formatInstant(expiresAt, call.zone)}`}`,
      );
      return 0;
    }
    if (stale !== null) {
      print(
        `stale: would replay the entry recorded ${formatInstant(stale.entry.recordedAt, call.zone)}, ${stale.why}, ` +
          `and refresh it in the background (refresh: ${refresh()})`,
      );
      return 0;
    }
    print(`would run: ${decision.reason}`);
    if (decision.reason === 'no entry') for (const line of nearEntries(call.store, call.material, call.clock())) print(`  recorded with other options: ${line}`);
    return 1;
  } finally {
    call.stdin?.dispose();
  }
}
