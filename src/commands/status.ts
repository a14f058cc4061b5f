import { formatInstant } from '../policy/clock.js';
import { escapeControls } from '../terminal/text.js';
import { ExitError } from '../errors.js';
import { explainDecision } from '../engine/explain.js';
import { decide } from '../engine/lookup.js';
import { RemoteSession } from '../store/remote/session.js';
import type { Output } from '../terminal/messages.js';
import { makePlan, type PlanInputs } from '../engine/call.js';

export interface StatusContext extends PlanInputs {
  print: (line: string) => void;
  output: Output;
}

// dcache status: would `dcache run` with these options replay (exit 0) or
// run the command (exit 1)? Says why on stdout; never runs the command.
export async function status(given: StatusContext): Promise<number> {
  // Paths and sources in the lines may hold control characters.
  const ctx = { ...given, print: (line: string) => given.print(escapeControls(line)) };
  const planned = await makePlan(ctx);
  if (!planned.ok) throw new ExitError(planned.error, 2);
  const plan = planned.value;
  try {
    let decision = await decide(plan, ctx.output, plan.options.force);
    let where = '';
    if (!decision.fresh && plan.remote && !plan.options.force) {
      const remote = new RemoteSession(plan.remote, plan.env, ctx.output);
      const found = await remote.peek(plan);
      await remote.close();
      if (found) {
        decision = found;
        where = ` on the remote cache ${plan.remote.label}`;
      }
    }
    if (plan.options.explain) {
      for (const line of explainDecision(plan, decision)) ctx.print(line);
      return decision.fresh ? 0 : 1;
    }
    if (decision.fresh) {
      const { expiresAt } = decision.verdict;
      ctx.print(
        `fresh: would replay the entry${where} recorded ${formatInstant(decision.manifest.recordedAt, plan.zone)}, ` +
          `fresh ${expiresAt === null ? 'forever' : `until ${formatInstant(expiresAt, plan.zone)}`}`,
      );
      return 0;
    }
    ctx.print(`would run: ${decision.reason}`);
    return 1;
  } finally {
    plan.stdin?.dispose();
  }
}
