import { optionName } from './wording.js';
import { formatInstant, type Zone } from '../policy/clock.js';
import { formatAge } from '../policy/duration.js';
import type { Policy, Verdict } from '../policy/policy.js';
import { judgePolicies, judgePolicy } from '../policy/policy.js';
import type { Manifest } from '../schema/manifest.js';
import type { SourceCheck } from '../sources/check.js';
import { describeChange } from '../sources/check.js';

// Whether an entry may be replayed: pure, given the time, the call's rules
// and (once the policies hold) what its watched sources look like now.

export type Decision =
  | { fresh: true; manifest: Manifest; verdict: Verdict; checks: SourceCheck[] }
  | {
      fresh: false;
      reason: string;
      // the entry found, when it was read whole (for --explain, --stale-if-error)
      entry: Manifest | null;
      verdict: Verdict | null;
      // the watched sources, when they were checked (so a run need not probe again)
      checks: SourceCheck[] | null;
    };

export interface Rules {
  policies: readonly Policy[];
  zone: Zone;
  // whether a recorded failure may be replayed (--cache-failures)
  cacheFailures: boolean;
  // A check of the front end's own, once the policies hold (the library's
  // policy functions): why the entry may not be replayed, or null.
  vet?: ((entry: Manifest, now: number) => string | null) | undefined;
}

export function miss(reason: string, entry: Manifest | null = null, verdict: Verdict | null = null, checks: SourceCheck[] | null = null): Decision {
  return { fresh: false, reason, entry, verdict, checks };
}

// The first part of judging an entry, before any source is probed: a
// recorded failure the call does not take, or a policy that no longer
// holds, is a miss; otherwise the verdict, for the sources to confirm.
export function judgeRules(entry: Manifest, rules: Rules, now: number): { fresh: false; decision: Decision } | { fresh: true; verdict: Verdict } {
  // A recorded failure serves only callers that cache failures: a caller
  // that does not would otherwise get an exit code it never asked to keep.
  if (entry.exitCode !== 0 && !rules.cacheFailures) {
    return { fresh: false, decision: miss(`the entry is a recorded failure (exit ${entry.exitCode}), replayed only with ${optionName(entry.material.kind, 'cache-failures')}`, entry) };
  }
  const verdict = judgePolicies(rules.policies, entry.recordedAt, now, rules.zone);
  if (verdict.fresh) {
    const vetoed = rules.vet?.(entry, now) ?? null;
    return vetoed === null ? { fresh: true, verdict } : { fresh: false, decision: miss(vetoed, entry, verdict) };
  }
  // the policies that failed, not every policy given
  const names = rules.policies
    .filter((p) => !judgePolicy(p, entry.recordedAt, now, rules.zone).fresh)
    .map((p) => p.spec)
    .join(', ');
  if (entry.recordedAt > now) return { fresh: false, decision: miss(`recorded after now, ${names}`, entry, verdict) };
  const since = verdict.expiresAt === null ? 'never' : formatInstant(verdict.expiresAt, rules.zone);
  return { fresh: false, decision: miss(`stale since ${since}, ${names}`, entry, verdict) };
}

// The second part: the policies hold; the entry is fresh if every watched
// source is unchanged.
export function judgeSources(entry: Manifest, verdict: Verdict, checks: SourceCheck[]): Decision {
  const changed = checks.find((c) => !c.unchanged);
  if (changed) return miss(describeChange(changed), entry, verdict, checks);
  return { fresh: true, manifest: entry, verdict, checks };
}

// --stale-while-revalidate: whether a stale entry may still be replayed
// while a refresh runs, and why it is stale; null outside the window of
// `windowMs` after it went stale. A watched source that changed makes an
// entry stale now: inside any window.
export function staleToServe(decision: Decision, windowMs: number | null, rules: Rules, now: number): { entry: Manifest; why: string } | null {
  if (windowMs === null || decision.fresh) return null;
  const { entry, verdict } = decision;
  if (entry === null || verdict === null) return null;
  if (entry.exitCode !== 0 && !rules.cacheFailures) return null;
  if (entry.recordedAt > now) return null;
  if (verdict.fresh) return { entry, why: decision.reason };
  if (verdict.expiresAt === null) return null;
  const by = now - verdict.expiresAt;
  if (by > windowMs) return null;
  const names = rules.policies.filter((p) => !judgePolicy(p, entry.recordedAt, now, rules.zone).fresh).map((p) => p.spec);
  return { entry, why: `stale by ${formatAge(by)} (${names.join(', ')})` };
}
