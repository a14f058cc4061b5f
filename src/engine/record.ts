import { describeError } from '../core/errors.js';
import { formatSize } from '../core/size.js';
import { formatInstant } from '../policy/clock.js';
import { formatAge, formatSpan } from '../policy/duration.js';
import { judgePolicies } from '../policy/policy.js';
import type { Manifest } from '../schema/manifest.js';
import { blobsOf, MANIFEST_FORMAT } from '../schema/manifest.js';
import { checkSources } from '../sources/check.js';
import { recordable } from '../sources/registry.js';
import type { Call } from './call.js';
import type { Flow } from './flow.js';
import type { EntryContent } from './recipe.js';
import type { Looked } from './lookup.js';
import { replayEntry } from './replay.js';

// Producing a value and recording it: watched sources fingerprinted first
// (a change during the production makes the next call produce it again
// rather than trust what this one saw), the production, then its entry
// published whole, or, for a failure, kept for those who waited for it.

export interface Recorded<R> {
  result: R;
  // the entry published, null if none was
  manifest: Manifest | null;
  // how the production failed, if it did
  failed: string | null;
  // why nothing was recorded, if the recipe or the store said
  notRecorded: string | null;
}

export async function produceAndRecord<R>(flow: Flow<R>, usable: boolean, looked: Looked, runId: string | null, timeLimitMs: number | null): Promise<Recorded<R>> {
  const { call, reporter, recipe } = flow;
  const { decision } = looked;
  const probeContext = { cwd: call.cwd, env: call.commandEnv, timeoutMs: call.watch.timeoutMs, wallNow: () => call.host.wallNow() };
  const checks = (!decision.fresh ? decision.checks : null) ?? (call.watch.sources.length > 0 ? await checkSources(call.watch.sources, [], probeContext, reporter) : []);
  // An entry that may stand in for a failed production (--stale-if-error).
  const fallback = !decision.fresh && decision.entry?.exitCode === 0 ? decision.entry : null;
  const recordedAt = call.clock();
  const started = call.host.elapsedMs();
  const production = await recipe.produce(usable, timeLimitMs);
  const durationMs = Math.round(call.host.elapsedMs() - started);
  const { failed } = production;
  const done = (manifest: Manifest | null, notRecorded: string | null = null, result = production.result): Recorded<R> => ({ result, manifest, failed, notRecorded });
  const entryOf = (content: EntryContent): Manifest => ({
    format: MANIFEST_FORMAT,
    key: call.key,
    material: call.material,
    recordedAt,
    durationMs,
    policies: call.policies.map((p) => p.spec),
    tz: call.zoneName,
    ...content,
    validators: checks.map((c) => recordable(c.source, c.current)),
  });
  // A failure that is not recorded is kept for the callers that waited for
  // this run (they get it, not a run of their own); a call that starts
  // after this one ends runs again.
  const forWaiters = usable && failed !== null && !call.cacheFailures && runId !== null && production.keepFailure !== undefined;
  if (forWaiters) {
    const content = await production.keepFailure!().catch(() => null);
    try {
      if (content !== null) call.store.publishOutcome(entryOf(content), runId);
    } catch (err) {
      reporter.warnOnce('cache', `the failed run's output could not be kept for the callers waiting for it (${describeError(err)})`);
    }
  }
  // --stale-if-error: a production that failed (not one that was
  // interrupted) gives way to the last successful entry.
  if (failed !== null && call.staleIfError && fallback !== null) {
    await production.discard();
    // stale output served: said even with -q
    reporter.alert(
      'stale-if-error',
      `the command failed (${failed}); replaying the entry recorded ` +
        `${formatAge(recordedAt - fallback.recordedAt)} ago (${formatInstant(fallback.recordedAt, call.zone)}) instead (--stale-if-error)`,
    );
    return done(null, null, (await replayEntry(flow, fallback)) ?? production.result);
  }
  if (!usable) return done(null);
  const content = forWaiters ? null : await production.keep();
  if (content === null) {
    if (forWaiters) await production.discard();
    return done(null, production.notRecorded?.() ?? null);
  }
  // An entry of a newer version of dcache under this key is left alone:
  // versions that share a cache must not destroy each other's entries.
  if (looked.foreign !== null) {
    call.store.discardSpares();
    return done(null, `the entry under this key was written by a newer version of dcache (${looked.foreign})`);
  }
  const manifest = entryOf(content);
  try {
    call.store.publishManifest(manifest);
  } catch (err) {
    reporter.alert('cache', `${call.material.kind === 'function' ? 'the result' : 'the run'} was not recorded (${describeError(err)})`);
    return done(null, describeError(err));
  }
  return done(manifest);
}

// The last -v line of a miss: what was recorded, or why nothing was.
export function closingLine(call: Call, recorded: Recorded<unknown>, usable: boolean): string {
  const { manifest } = recorded;
  if (manifest !== null) {
    const bytes = blobsOf(manifest).reduce((n, b) => n + b.size, 0);
    const { expiresAt } = judgePolicies(call.policies, manifest.recordedAt, manifest.recordedAt, call.zone);
    const until = expiresAt === null ? 'forever' : `until ${formatInstant(expiresAt, call.zone)}`;
    const exit = manifest.exitCode === 0 ? '' : `, exit ${manifest.exitCode}`;
    const took = manifest.durationMs < 1000 ? `${manifest.durationMs} ms` : formatSpan(manifest.durationMs);
    return `recorded ${formatSize(bytes)} in ${took}${exit}, fresh ${until}`;
  }
  if (!usable) return 'not recorded: the cache directory cannot be used';
  return `not recorded: ${recorded.notRecorded ?? recorded.failed ?? 'see above'}`;
}
