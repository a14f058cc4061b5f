import { formatInstant } from '../policy/clock.js';
import { sameKeyMaterial } from '../schema/key.js';
import type { Manifest } from '../schema/manifest.js';
import type { Output } from '../terminal/messages.js';
import type { Plan } from './call.js';
import type { Verdict } from '../policy/policy.js';
import { judgePolicies, judgePolicy } from '../policy/policy.js';
import { findRecorded, probe, sameFingerprint, sourceLabel, type Fingerprint, type Probe, type WatchSource } from '../sources/watch.js';

// One watched source as checked for this call.
export interface SourceCheck {
  source: WatchSource;
  recorded: Fingerprint | undefined;
  current: Probe;
  unchanged: boolean;
}

export type Decision =
  | { fresh: true; manifest: Manifest; verdict: Verdict; checks: SourceCheck[] }
  | {
      fresh: false;
      reason: string;
      // the entry found, when it was read whole (for --explain)
      entry: Manifest | null;
      verdict: Verdict | null;
      // the watched sources, when they were checked (so a run need not probe again)
      checks: SourceCheck[] | null;
    };

// Decides whether the entry for a plan's key may be replayed. Drops an entry
// found damaged. With `force`, the entry is still read (for --stale-if-error)
// but never judged fresh.
export async function decide(plan: Plan, output: Output, force: boolean): Promise<Decision> {
  const { store, key } = plan;
  const miss = (reason: string, entry: Manifest | null = null, verdict: Verdict | null = null, checks: SourceCheck[] | null = null) =>
    ({ fresh: false, reason, entry, verdict, checks }) as const;
  const distrust = store.distrust();
  if (distrust !== null) {
    output.alert('cache', `cannot use the cache directory ${store.root} (${distrust}); running without the cache`);
    return miss('cache directory refused');
  }
  const read = store.readEntry(key);
  switch (read.status) {
    case 'absent':
      return miss('no entry');
    case 'unreadable':
      output.warnOnce('cache', `cannot read the cache entry (${read.detail}); running the command`);
      return miss('entry unreadable');
    case 'bad':
      output.warn(`dropped a bad cache entry (${read.detail}); running the command`);
      store.dropEntry(null, key, null);
      return miss('bad entry');
    case 'found':
      break;
  }
  const manifest = read.manifest;
  if (!sameKeyMaterial(manifest.material, plan.material)) return miss('the entry under this key is for another command');
  const missing = store.checkBlobs(manifest);
  if (missing) {
    output.warn(`dropped a bad cache entry (${missing.detail}); running the command`);
    store.dropEntry(manifest, key, missing.hash);
    return miss('bad entry');
  }
  if (force) return miss('--force', manifest);
  return judgeEntry(plan, manifest, output);
}

// Judges an entry whose key material matches: its policies, then (only if
// they hold) its watched sources. Used for local and remote entries alike.
export async function judgeEntry(
  plan: Plan,
  manifest: Manifest,
  output: Output,
  { trustFileTimes = true }: { trustFileTimes?: boolean } = {},
): Promise<Decision> {
  const miss = (reason: string, verdict: Verdict | null, checks: SourceCheck[] | null = null) =>
    ({ fresh: false, reason, entry: manifest, verdict, checks }) as const;
  // A recorded failure serves only callers that cache failures: a caller
  // that does not would otherwise get an exit code it never asked to keep.
  if (manifest.exitCode !== 0 && !plan.options.cacheFailures) {
    return miss(`the entry is a recorded failure (exit ${manifest.exitCode}), replayed only with --cache-failures`, null);
  }
  const verdict = judgePolicies(plan.policies, manifest.recordedAt, plan.now, plan.zone);
  if (!verdict.fresh) {
    // the policies that failed, not every policy given
    const names = plan.policies
      .filter((p) => !judgePolicy(p, manifest.recordedAt, plan.now, plan.zone).fresh)
      .map((p) => p.spec)
      .join(', ');
    if (manifest.recordedAt > plan.now) return miss(`recorded after now, ${names}`, verdict);
    const since = verdict.expiresAt === null ? 'never' : formatInstant(verdict.expiresAt, plan.zone);
    return miss(`stale since ${since}, ${names}`, verdict);
  }
  const checks = await checkSources(plan, manifest.validators, output, trustFileTimes);
  const changed = checks.find((c) => !c.unchanged);
  if (changed) return miss(describeChange(changed), verdict, checks);
  return { fresh: true, manifest, verdict, checks };
}

// Probes every watched source in parallel against its recorded fingerprint.
// With trustFileTimes, a local file whose size and mtime are those recorded
// keeps its recorded hash unread; without, every file is read.
export async function checkSources(
  plan: Plan,
  recorded: readonly Fingerprint[],
  output: Output,
  trustFileTimes = true,
): Promise<SourceCheck[]> {
  const ctx = { cwd: plan.cwd, env: plan.commandEnv, timeoutMs: plan.watch.timeoutMs };
  return Promise.all(
    plan.watch.sources.map(async (source): Promise<SourceCheck> => {
      const before = findRecorded(recorded, source);
      const current = await probe(source, ctx, trustFileTimes ? before : undefined);
      if (current.ok && current.warning) output.warnOnce(`source:${source.id}`, current.warning);
      // A source that cannot be checked counts as changed: say why, once.
      if (!current.ok) output.warnOnce(`unchecked:${source.id}`, `cannot check a watched source, so it counts as changed: ${current.detail}`);
      const unchanged = before !== undefined && current.ok && sameFingerprint(before, current.fingerprint);
      return { source, recorded: before, current, unchanged };
    }),
  );
}

export function describeChange(check: SourceCheck): string {
  const label = sourceLabel(check.source);
  if (!check.current.ok) return `${label} could not be checked: ${check.current.detail}`;
  if (check.recorded === undefined) return `${label} was not watched when the entry was recorded`;
  if (check.recorded.kind === 'unknown') return `${label} could not be checked when the entry was recorded`;
  return `${label} changed`;
}
