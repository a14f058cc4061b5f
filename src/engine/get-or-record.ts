import { describeError } from '../core/errors.js';
import type { HeldLock } from '../ports/lease.js';
import type { Reporter } from '../ports/reporter.js';
import type { Manifest } from '../schema/manifest.js';
import { refreshLimit, type Call } from './call.js';
import { staleToServe, type Decision } from './decide.js';
import { explainDecision } from './explain.js';
import { BrokenReplay, type Flow } from './flow.js';
import { lookUp, type Looked } from './lookup.js';
import { closingLine, produceAndRecord, type Recorded } from './record.js';
import { replayHit, replayStale } from './replay.js';
import { SharedLooks } from './shared-looks.js';
import { releaseAll } from './single-flight.js';
import { waitForProducer } from './wait.js';
import type { EngineDeps, Outcome, Recipe } from './recipe.js';

export type { EngineDeps, EntryContent, Outcome, Production, Recipe, Replayed } from './recipe.js';

// The story of one call: a fresh entry is replayed (a stale one too,
// inside --stale-while-revalidate's window, while a refresh runs); a miss
// looks at the shared cache, waits for whoever already produces the entry,
// or produces it, records it and shares it.
export async function getOrRecord<R>(call: Call, recipe: Recipe<R>, deps: EngineDeps): Promise<Outcome<R>> {
  const { reporter } = deps;
  for (const warning of call.warnings) reporter.warnOnce(`setting:${warning}`, warning);
  const flow: Flow<R> = { call, recipe, deps, reporter, shared: null };
  try {
    const looked = await lookUp(call, reporter);
    const { decision } = looked;
    if (call.explain) for (const line of explainDecision(call, decision)) reporter.explain(line);
    if (decision.fresh) {
      const hit = await replayHit(flow, decision.manifest, decision.verdict.expiresAt, false);
      if (hit !== null) return { ok: true, result: hit };
    }
    const stale = staleWithinWindow(flow, decision);
    const served = stale === null ? null : await replayStale(flow, stale.entry, stale.why);
    if (served !== null) return { ok: true, result: served };
    const usable = prepareStore(call, reporter);
    const tier = usable && call.remote ? deps.openShared(call.remote) : null;
    try {
      return { ok: true, result: await miss({ ...flow, shared: tier && new SharedLooks(tier) }, looked, usable) };
    } finally {
      await tier?.close();
    }
  } catch (err) {
    if (err instanceof BrokenReplay) return { ok: false, reason: 'broken-replay', detail: err.detail };
    throw err;
  }
}

// No fresh local entry: the shared cache's, or the one whoever is already
// producing it records, or one this call produces, records and shares.
async function miss<R>(flow: Flow<R>, looked: Looked, usable: boolean): Promise<R> {
  const { call, reporter, shared } = flow;
  const { decision } = looked;
  const timeLimitMs = call.refreshing ? refreshLimit(call, decision.fresh ? decision.manifest.durationMs : (decision.entry?.durationMs ?? null)) : null;
  const pulled = (await shared?.pull(flow)) ?? null;
  if (pulled !== null) return pulled;
  const held: HeldLock[] = [];
  // Released on every way out, a signal before or after the work included.
  const interrupt = flow.deps.interrupts.cleanUpWith(() => releaseAll(held));
  try {
    const waited = await waitForProducer(flow, looked, usable, held, timeLimitMs);
    if (waited.kind === 'replayed') return waited.result;
    sayMiss(flow, waited.looked.decision);
    const recorded = await produceAndRecord(flow, usable, waited.looked, waited.runId, timeLimitMs);
    // (built only for -v: it judges the policies again)
    if (reporter.verbose) reporter.info(closingLine(call, recorded, usable));
    if (recorded.manifest !== null && shared !== null && !shared.tier.readOnly) {
      flow.recipe.beforeShare?.();
      await shared.tier.share(recorded.manifest);
    }
    await releaseAll(held);
    if (usable) await afterMiss(flow, recorded);
    return recorded.result;
  } finally {
    await releaseAll(held);
    interrupt.dispose();
  }
}

// -v: why the call misses, and entries of the same work recorded with other options.
function sayMiss<R>(flow: Flow<R>, decision: Decision): void {
  const { reporter, deps } = flow;
  if (decision.fresh) return;
  const near = decision.reason === 'no entry' && reporter.verbose && deps.nearEntries ? deps.nearEntries() : [];
  const also = near.length === 0 ? '' : `; recorded with other options: ${near.join('; ')}`;
  reporter.info(`miss (${decision.reason}${also}); running ${flow.recipe.label}`);
}

// After a miss: its event (and a refresh's failure, which leaves the stale
// entry: stats and show say so), and the automatic clean-up, at most once
// an hour, down to the configured size; it never fails the call.
async function afterMiss<R>(flow: Flow<R>, recorded: Recorded<R>): Promise<void> {
  const { call, reporter } = flow;
  call.store.recordEvent({ t: call.clock(), k: call.key, e: 'miss' });
  if (call.refreshing && recorded.failed !== null) call.store.recordEvent({ t: call.clock(), k: call.key, e: 'refresh-failed', failed: recorded.failed });
  try {
    await call.store.collectNowAndThen(call.maxSize, call.clock());
  } catch (err) {
    reporter.warnOnce('gc', `automatic clean-up failed (${describeError(err)})`);
  }
}

// --stale-while-revalidate: a stale entry that may still be served while a
// refresh runs (see staleToServe); never in a refresh itself, with --force,
// or where the work cannot be redone in the background.
function staleWithinWindow<R>(flow: Flow<R>, decision: Decision): { entry: Manifest; why: string } | null {
  const { call, deps } = flow;
  if (call.refreshing || call.force || deps.startRefresh === undefined) return null;
  return staleToServe(decision, call.staleWhileRevalidateMs, call, call.clock());
}

// Creates the cache directory; false, with one warning, if it cannot be used.
function prepareStore(call: Call, reporter: Reporter): boolean {
  try {
    call.store.prepare();
    return true;
  } catch (err) {
    reporter.alert('cache', `cannot use the cache directory ${call.store.root} (${describeError(err)}); running without the cache`);
    return false;
  }
}
