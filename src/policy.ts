import { startOfNextLocalDay } from './clock.js';
import { parseDuration } from './duration.js';
import type { Result } from './errors.js';
import { fail, ok, unreachable } from './errors.js';

// A freshness policy: decides from an entry's record time and "now" whether
// the entry may be replayed. Pure: the clock is an argument, and calendar
// policies use the process's local zone.
export type Policy =
  | { kind: 'daily'; spec: string }
  | { kind: 'ttl'; spec: string; ms: number }
  | { kind: 'forever'; spec: string };

export const DEFAULT_POLICY = 'daily';
export const POLICY_HELP = 'daily, ttl:<duration> (e.g. ttl:6h) or forever';

export function parsePolicy(spec: string): Result<Policy, string> {
  const text = spec.trim();
  if (text === 'daily') return ok({ kind: 'daily', spec: text });
  if (text === 'forever') return ok({ kind: 'forever', spec: text });
  if (text.startsWith('ttl:')) {
    const duration = parseDuration(text.slice(4));
    if (!duration.ok) return fail(`--policy '${spec}': ${duration.error}`);
    return ok({ kind: 'ttl', spec: text, ms: duration.value });
  }
  return fail(`--policy '${spec}' is not a policy; use ${POLICY_HELP}`);
}

export function parsePolicies(specs: readonly string[]): Result<Policy[], string> {
  const policies: Policy[] = [];
  for (const spec of specs.length > 0 ? specs : [DEFAULT_POLICY]) {
    const parsed = parsePolicy(spec);
    if (!parsed.ok) return parsed;
    policies.push(parsed.value);
  }
  return ok(policies);
}

export interface Verdict {
  fresh: boolean;
  // when the entry stops being fresh; null for never
  expiresAt: number | null;
}

// An entry recorded after `now` (a clock set back, or DCACHE_NOW in the past)
// is never fresh, except under `forever`: nothing can vouch for it.
export function judgePolicy(policy: Policy, recordedAt: number, now: number): Verdict {
  switch (policy.kind) {
    case 'forever':
      return { fresh: true, expiresAt: null };
    case 'ttl': {
      const expiresAt = recordedAt + policy.ms;
      return { fresh: recordedAt <= now && now < expiresAt, expiresAt };
    }
    case 'daily': {
      const expiresAt = startOfNextLocalDay(recordedAt);
      return { fresh: recordedAt <= now && now < expiresAt, expiresAt };
    }
    default:
      return unreachable(policy);
  }
}

// All policies must hold; the entry expires at the earliest expiry.
export function judgePolicies(policies: readonly Policy[], recordedAt: number, now: number): Verdict {
  let fresh = true;
  let expiresAt: number | null = null;
  for (const policy of policies) {
    const verdict = judgePolicy(policy, recordedAt, now);
    fresh &&= verdict.fresh;
    if (verdict.expiresAt !== null && (expiresAt === null || verdict.expiresAt < expiresAt)) {
      expiresAt = verdict.expiresAt;
    }
  }
  return { fresh, expiresAt };
}
