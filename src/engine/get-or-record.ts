import { describeError } from '../core/errors.js';
import { displayHash, type BlobHash } from '../core/hash.js';
import { formatInstant } from '../policy/clock.js';
import { formatAge, formatSpan } from '../policy/duration.js';
import type { Manifest } from '../schema/manifest.js';
import { blobsOf, MANIFEST_FORMAT } from '../schema/manifest.js';
import { sameKeyMaterial } from '../schema/key.js';
import { judgePolicies } from '../policy/policy.js';
import { formatSize } from '../core/size.js';
import { checkSources } from '../sources/check.js';
import { recordable } from '../sources/registry.js';
import type { RemoteSpec } from '../ports/tiers.js';
import type { Interrupts } from '../ports/interrupts.js';
import { refreshLimit, type Call } from './call.js';
import { staleToServe, type Decision } from './decide.js';
import { explainDecision } from './explain.js';
import type { HeldLock } from '../ports/lease.js';
import { lookUpLocal, lookUpShared, pullShared } from './lookup.js';
import type { Reporter } from '../ports/reporter.js';
import type { OpenBlobs, SharedTier } from '../ports/tiers.js';
import { describeRunning, lockHolderInfo, lockLocally, lockShared, releaseAll } from './single-flight.js';
import { producing } from './wording.js';

// The flow of one call: replay a fresh entry (local, then shared); or wait
// for whoever is already producing it (here, or on another machine); or
// produce it, record it, and share it. Generic over how a value is produced
// and replayed: a command (dcache run), a function (the library).

// How the values of a call are produced and replayed.
export interface Recipe<R> {
  // what is produced, for messages ("./fetch.sh")
  readonly label: string;
  // Replays a stored entry, every blob of it already open.
  replay(entry: Manifest, blobs: OpenBlobs): Promise<Replayed<R>>;
  // Produces the value once; its bytes go to the call's store when `record`
  // (false: the store cannot be used, and the work runs uncached). Past
  // `timeLimitMs` (a background refresh's) the work is stopped.
  produce(record: boolean, timeLimitMs: number | null): Promise<Production<R>>;
  // Called once the value is out and before it is shared (a command's
  // stdout is closed there, so that its reader need not wait for the upload).
  beforeShare?(): void;
}

export type Replayed<R> =
  | { kind: 'done'; result: R }
  // Nothing was written: a miss. `drop` the entry (and `badBlob`) if it is damaged.
  | { kind: 'unusable'; warning: string; drop: boolean; badBlob: BlobHash | null }
  // A blob proved bad after some of the value was written: the call fails.
  | { kind: 'broken'; badBlob: BlobHash; detail: string };

export interface Production<R> {
  result: R;
  // how the production failed ("exit 6"), null if it did not (an
  // interruption is not a failure): --stale-if-error may stand in
  failed: string | null;
  // What to record, its blobs in the store; null if it is not to be
  // recorded (the recipe has said why).
  keep(): Promise<EntryContent | null>;
  // Nothing of this production will be recorded.
  discard(): Promise<void>;
  // after keep() gave null: why, for the closing line of -v ("exit 3; ...")
  notRecorded?(): string | null;
  // A production that failed and is not recorded: its output, kept for the
  // callers that waited for it (they are given this outcome, not a run of
  // their own, as Go's singleflight hands its error to every waiter), or
  // null if it cannot be. Called instead of keep().
  keepFailure?(): Promise<EntryContent | null>;
}

// What a recipe records of a production; the engine adds the key, the
// times, the policies and the watched sources.
export type EntryContent = Pick<Manifest, 'exitCode' | 'stdout' | 'stderr' | 'order' | 'outputs'>;

export type Outcome<R> = { ok: true; result: R } | { ok: false; reason: 'broken-replay'; detail: string };

export interface EngineDeps {
  reporter: Reporter;
  interrupts: Interrupts;
  // the shared cache of a call that has a remote
  openShared(spec: RemoteSpec): SharedTier;
  // Starts a refresh of the call's entry in the background (a process of
  // its own that produces and records it, --stale-while-revalidate), and
  // returns its pid; null if it could not start. Absent where the work
  // cannot be redone elsewhere: the stale entry is then not served.
  startRefresh?(): Promise<number | null>;
  // With -v, when there is no entry: entries of the same work recorded with
  // other options, and what differs ("…, with -o data/raw.csv")
  nearEntries?(): string[];
}

export function getOrRecord<R>(call: Call, recipe: Recipe<R>, deps: EngineDeps): Promise<Outcome<R>> {
  return new Flow(call, recipe, deps).run();
}

class BrokenReplay extends Error {
  constructor(readonly detail: string) {
    super(detail);
  }
}

// While waiting for another machine, how often the shared cache is asked
// whether the entry has arrived.
const SHARED_LOOK_MS = 1000;

class Flow<R> {
  private readonly reporter: Reporter;
  private shared: SharedTier | null = null;
  // An entry pulled from the shared cache that could not be replayed
  // (refused output paths, say) is not pulled again.
  private sharedUsable = true;
  private lastSharedLook = 0;
  // the runs of this key this call waited for, by their lock's id
  private readonly waitedFor = new Set<string>();
  // the id of this call's own run (its local lock's), once it holds it
  private runId: string | null = null;
  // a background refresh's time limit (see refreshLimit); null otherwise
  private timeLimitMs: number | null = null;

  constructor(
    private readonly call: Call,
    private readonly recipe: Recipe<R>,
    private readonly deps: EngineDeps,
  ) {
    this.reporter = deps.reporter;
  }

  async run(): Promise<Outcome<R>> {
    const { call, reporter } = this;
    for (const warning of call.warnings) reporter.warnOnce(`setting:${warning}`, warning);
    try {
      const decision = await lookUpLocal(call, reporter);
      if (call.explain) for (const line of explainDecision(call, decision)) reporter.explain(line);
      if (decision.fresh) {
        const replayed = await this.replayHit(decision.manifest, decision.verdict.expiresAt, false);
        if (replayed !== null) return { ok: true, result: replayed };
      }
      const stale = this.staleWithinWindow(decision);
      if (stale !== null) {
        const replayed = await this.replayStale(stale.entry, stale.why);
        if (replayed !== null) return { ok: true, result: replayed };
      }
      const usable = this.prepareStore();
      if (usable && call.remote) this.shared = this.deps.openShared(call.remote);
      try {
        return { ok: true, result: await this.missLocally(decision, usable) };
      } finally {
        await this.shared?.close();
      }
    } catch (err) {
      if (err instanceof BrokenReplay) return { ok: false, reason: 'broken-replay', detail: err.detail };
      throw err;
    }
  }

  // No fresh local entry: try the shared cache, wait for whoever is already
  // producing it, and otherwise produce it, record it, and share it.
  private async missLocally(local: Decision, usable: boolean): Promise<R> {
    const { call, reporter } = this;
    let decision = local;
    if (call.refreshing) this.timeLimitMs = refreshLimit(call, decision.fresh ? decision.manifest.durationMs : (decision.entry?.durationMs ?? null));
    const replayed = await this.fromShared();
    if (replayed !== null) return replayed;
    const held: HeldLock[] = [];
    // Released on every way out, a signal before or after the work included.
    const interrupt = this.deps.interrupts.cleanUpWith(() => releaseAll(held));
    try {
      // Single flight: wait for a process already producing this entry. The
      // holder published while we waited: replay without the lock, as all
      // the other waiters do; if that entry will not do, wait for the lock.
      let lock: HeldLock | null = null;
      while (usable) {
        const giveUp = () => this.entryChanged(decision) || this.failureWaitedFor() !== null;
        const outcome = await lockLocally(call, reporter, giveUp, (id) => this.waitedFor.add(id), { refreshLimitMs: this.timeLimitMs });
        if (outcome === null || outcome.kind === 'timed-out') break;
        // The run we waited for failed: its outcome is ours, as it is every
        // waiter's; but an entry recorded meanwhile (here, or shared by
        // another machine) is better than a failure.
        const failure = this.failureWaitedFor();
        if (failure !== null) {
          if (outcome.kind === 'held') await outcome.lock.release();
          decision = await lookUpLocal(call, reporter, false);
          if (decision.fresh) {
            const recorded = await this.replayHit(decision.manifest, decision.verdict.expiresAt, false);
            if (recorded !== null) return recorded;
          }
          const pulled = await this.fromShared();
          if (pulled !== null) return pulled;
          const shared = await this.replayFailure(failure, decision);
          if (shared !== null) return shared;
        }
        if (outcome.kind === 'held') {
          lock = outcome.lock;
          this.runId = lock.id ?? null;
          held.push(lock);
          break;
        }
        decision = await lookUpLocal(call, reporter, false);
        if (decision.fresh) {
          const again = await this.replayHit(decision.manifest, decision.verdict.expiresAt, false);
          if (again !== null) return again;
          decision = await lookUpLocal(call, reporter, false);
        }
      }
      let sharedLock: HeldLock | null = null;
      let sharedWaited = false;
      if (lock && this.shared) {
        const outcome = await lockShared(call, this.shared, reporter, (now) => this.sharedHasFresh(now));
        sharedWaited = outcome !== null && outcome.kind !== 'held';
        if (outcome?.kind === 'held') {
          sharedLock = outcome.lock;
          sharedWaited = sharedLock.waited;
          held.push(sharedLock);
        }
      }
      // Look again if someone may have recorded since we looked: we waited
      // for them, or the entry changed before we got the lock.
      const changed = lock !== null && this.entryChanged(decision);
      if ((lock?.waited || sharedWaited || changed) && !call.force) {
        decision = await lookUpLocal(call, reporter, false);
        if (decision.fresh) {
          await releaseAll(held);
          const again = await this.replayHit(decision.manifest, decision.verdict.expiresAt, false);
          if (again !== null) return again;
        }
      }
      // Another machine may have shared the entry while we missed or waited:
      // look once more (one small request).
      if (this.shared && !decision.fresh && (lock?.waited || sharedLock !== null || sharedWaited)) {
        const pulled = await this.fromShared();
        if (pulled !== null) return pulled;
      }
      if (!decision.fresh) {
        const near = decision.reason === 'no entry' && reporter.verbose && this.deps.nearEntries ? this.deps.nearEntries() : [];
        const also = near.length === 0 ? '' : `; recorded with other options: ${near.join('; ')}`;
        reporter.info(`miss (${decision.reason}${also}); running ${this.recipe.label}`);
      }
      // An entry that may stand in for a failed production (--stale-if-error).
      const fallback = !decision.fresh && decision.entry?.exitCode === 0 ? decision.entry : null;
      const recorded = await this.record(usable, decision.fresh ? null : decision.checks, fallback);
      // (built only for -v: it judges the policies again)
      if (reporter.verbose) reporter.info(this.closingLine(recorded.manifest, usable));
      if (recorded.manifest && this.shared && !this.shared.readOnly) {
        this.recipe.beforeShare?.();
        await this.shared.share(recorded.manifest);
      }
      await releaseAll(held);
      if (usable) {
        call.store.recordEvent({ t: call.clock(), k: call.key, e: 'miss' });
        // A refresh that failed leaves the stale entry; stats and show say so.
        if (call.refreshing && recorded.failed !== null) {
          call.store.recordEvent({ t: call.clock(), k: call.key, e: 'refresh-failed', failed: recorded.failed });
        }
        await this.collectNowAndThen();
      }
      return recorded.result;
    } finally {
      await releaseAll(held);
      interrupt.dispose();
    }
  }

  // --stale-while-revalidate: a stale entry that may still be served while
  // a refresh runs (see staleToServe); never in a refresh itself, with
  // --force, or where the work cannot be redone in the background.
  private staleWithinWindow(decision: Decision): { entry: Manifest; why: string } | null {
    const { call } = this;
    if (call.refreshing || call.force || this.deps.startRefresh === undefined) return null;
    return staleToServe(decision, call.staleWhileRevalidateMs, call, call.clock());
  }

  // Replays a stale entry at once and has it refreshed in the background,
  // unless a refresh (or a run) of it is already under way on this machine.
  private async replayStale(entry: Manifest, why: string): Promise<R | null> {
    const { call } = this;
    const now = call.clock();
    // Said before the replayed output, as a hit's line is; what became of
    // the refresh is known only after it, and follows it, as a miss's
    // closing line follows the command's output.
    this.reporter.info(`stale hit: recorded ${formatAge(now - entry.recordedAt)} ago (${formatInstant(entry.recordedAt, call.zone)}), ${why}`);
    // replayed first: the refresh runs the command, which may rewrite the
    // output files being restored
    const result = await this.replay(entry);
    if (result === null) return null;
    const saved = Math.round(entry.durationMs - call.host.elapsedMs());
    call.store.recordEvent({ t: now, k: call.key, e: 'hit', saved, r: entry.recordedAt });
    const holder = await lockHolderInfo(call);
    if (holder !== null) this.reporter.info(`a refresh is already running (${describeRunning(holder, call)})`);
    // one refresh per storm: of the stale callers at once, the one that claims it starts it
    else if (!call.store.claimRefresh(call.key)) this.reporter.info('a refresh is already starting');
    else {
      const pid = await this.deps.startRefresh!();
      if (pid === null) call.store.dropRefreshClaim(call.key);
      this.reporter.info(pid === null ? 'the refresh could not be started' : `refreshing in the background (pid ${pid})`);
    }
    return result;
  }

  // A fresh entry of the shared cache, pulled and replayed; null if none.
  private async fromShared(): Promise<R | null> {
    if (this.shared === null || this.call.force || !this.sharedUsable) return null;
    const pulled = await pullShared(this.call, this.shared, this.reporter);
    if (pulled === null) return null;
    const replayed = await this.replayHit(pulled.manifest, pulled.verdict.expiresAt, true);
    if (replayed === null) this.sharedUsable = false;
    return replayed;
  }

  // Asked while waiting for another machine: has it shared the entry yet?
  // At most once a SHARED_LOOK_MS, unless the lock asks for an answer now.
  private async sharedHasFresh(force = false): Promise<boolean> {
    const now = this.call.host.wallNow();
    if (this.shared === null || (!force && now - this.lastSharedLook < SHARED_LOOK_MS)) return false;
    this.lastSharedLook = now;
    return (await lookUpShared(this.call, this.shared, this.reporter)) !== null;
  }

  // The outcome of a run this call waited for that failed, if one was kept.
  private failureWaitedFor(): Manifest | null {
    if (this.waitedFor.size === 0) return null;
    const found = this.call.store.readOutcome(this.call.key, this.waitedFor);
    return found !== null && sameKeyMaterial(found.material, this.call.material) ? found : null;
  }

  // Hands this call the failure of the run it waited for: its output and
  // exit code, replayed; or, with --stale-if-error, the entry that stands in
  // for a failure. Null if it cannot be replayed (the call then runs).
  private async replayFailure(failure: Manifest, decision: Decision): Promise<R | null> {
    const { call, reporter } = this;
    const fallback = !decision.fresh && decision.entry?.exitCode === 0 ? decision.entry : null;
    if (call.staleIfError && fallback !== null) {
      // stale output served: said even with -q
      reporter.alert(
        'stale-if-error',
        `the run this call waited for failed (exit ${failure.exitCode}); replaying the entry recorded ` +
          `${formatAge(call.clock() - fallback.recordedAt)} ago (${formatInstant(fallback.recordedAt, call.zone)}) instead (--stale-if-error)`,
      );
      const stood = await this.replay(fallback);
      if (stood !== null) return stood;
    }
    reporter.info(`the run this call waited for failed (exit ${failure.exitCode}); replaying its output, which is not recorded`);
    const blobs = call.store.openBlobs(failure);
    if (!('fd' in blobs)) return null;
    try {
      const replayed = await this.recipe.replay(failure, blobs);
      if (replayed.kind === 'broken') throw new BrokenReplay(replayed.detail);
      return replayed.kind === 'done' ? replayed.result : null;
    } finally {
      blobs.close();
    }
  }

  // Whether the entry on disk is no longer the one `decision` judged.
  private entryChanged(decision: Decision): boolean {
    const read = this.call.store.readEntry(this.call.key);
    const now = read.status === 'found' ? read.manifest.recordedAt : null;
    const before = decision.fresh ? decision.manifest.recordedAt : (decision.entry?.recordedAt ?? null);
    return now !== before;
  }

  // Replays a fresh entry and counts the hit; null if it proved unusable.
  private async replayHit(entry: Manifest, expiresAt: number | null, shared: boolean): Promise<R | null> {
    const { call } = this;
    const now = call.clock();
    this.reporter.info(
      `${shared ? `hit on the remote cache ${call.remote?.label}` : 'hit'}: recorded ${formatAge(now - entry.recordedAt)} ago (${formatInstant(entry.recordedAt, call.zone)})` +
        `${entry.exitCode === 0 ? '' : `, a failure (exit ${entry.exitCode})`}, ` +
        `fresh ${expiresAt === null ? 'forever' : `until ${formatInstant(expiresAt, call.zone)}`} (${call.policies.map((p) => p.spec).join(', ')})`,
    );
    const result = await this.replay(entry);
    if (result !== null && !call.refreshing) {
      // the time since this process started is the hit's whole cost
      const saved = Math.round(entry.durationMs - call.host.elapsedMs());
      call.store.recordEvent({ t: now, k: call.key, e: 'hit', saved, r: entry.recordedAt, ...(shared ? { remote: true } : {}) });
    }
    return result;
  }

  // Replays an entry; null when it turned out unusable before anything was
  // written (the entry is then dropped or left, and the work runs).
  private async replay(entry: Manifest): Promise<R | null> {
    const { store, key } = this.call;
    const blobs = store.openBlobs(entry);
    if (!('fd' in blobs)) {
      this.reporter.warn(`dropped a bad cache entry (${blobs.detail}); ${producing(this.call.material)}`);
      store.dropEntry(entry, key, blobs.missing);
      return null;
    }
    let replayed: Replayed<R>;
    try {
      replayed = await this.recipe.replay(entry, blobs);
    } finally {
      blobs.close();
    }
    switch (replayed.kind) {
      case 'done':
        return replayed.result;
      case 'unusable':
        this.reporter.warn(replayed.warning);
        if (replayed.drop) store.dropEntry(entry, key, replayed.badBlob);
        return null;
      case 'broken':
        store.dropEntry(entry, key, replayed.badBlob);
        throw new BrokenReplay(replayed.detail);
    }
  }

  // Produces the value and records it. Watched sources are fingerprinted
  // before: a change during the production makes the next call produce it
  // again rather than trust what this one saw.
  private async record(usable: boolean, checked: Decision['checks'], fallback: Manifest | null): Promise<{ result: R; manifest: Manifest | null; failed: string | null }> {
    const recorded = await this.recordOnce(usable, checked, fallback);
    return { ...recorded, failed: this.failed };
  }

  // how the last production failed, if it did
  private failed: string | null = null;
  // why the last production was not recorded, if it said
  private notRecorded: string | null = null;

  // The last -v line of a miss: what was recorded, or why nothing was.
  private closingLine(manifest: Manifest | null, usable: boolean): string {
    const { call } = this;
    if (manifest !== null) {
      const bytes = blobsOf(manifest).reduce((n, b) => n + b.size, 0);
      const { expiresAt } = judgePolicies(call.policies, manifest.recordedAt, manifest.recordedAt, call.zone);
      const until = expiresAt === null ? 'forever' : `until ${formatInstant(expiresAt, call.zone)}`;
      const exit = manifest.exitCode === 0 ? '' : `, exit ${manifest.exitCode}`;
      const took = manifest.durationMs < 1000 ? `${manifest.durationMs} ms` : formatSpan(manifest.durationMs);
      return `recorded ${formatSize(bytes)} in ${took}${exit}, fresh ${until}`;
    }
    if (!usable) return 'not recorded: the cache directory cannot be used';
    return `not recorded: ${this.notRecorded ?? this.failed ?? 'see above'}`;
  }

  private async recordOnce(usable: boolean, checked: Decision['checks'], fallback: Manifest | null): Promise<{ result: R; manifest: Manifest | null }> {
    const { call, reporter } = this;
    const probeContext = { cwd: call.cwd, env: call.commandEnv, timeoutMs: call.watch.timeoutMs, wallNow: () => call.host.wallNow() };
    const checks = checked ?? (call.watch.sources.length > 0 ? await checkSources(call.watch.sources, [], probeContext, reporter) : []);
    const recordedAt = call.clock();
    const started = call.host.elapsedMs();
    const production = await this.recipe.produce(usable, this.timeLimitMs);
    const durationMs = Math.round(call.host.elapsedMs() - started);
    this.failed = production.failed;
    this.notRecorded = null;
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
    // A failure that is not recorded is kept for the callers that waited
    // for this run (they get it, not a run of their own); a call that
    // starts after this one ends runs again.
    const forWaiters = usable && production.failed !== null && !call.cacheFailures && this.runId !== null && production.keepFailure !== undefined;
    if (forWaiters) {
      const content = await production.keepFailure!().catch(() => null);
      try {
        if (content !== null) call.store.publishOutcome(entryOf(content), this.runId!);
      } catch (err) {
        reporter.warnOnce('cache', `the failed run's output could not be kept for the callers waiting for it (${describeError(err)})`);
      }
    }
    // --stale-if-error: a production that failed (not one that was
    // interrupted) gives way to the last successful entry.
    if (production.failed !== null && call.staleIfError && fallback !== null) {
      await production.discard();
      // stale output served: said even with -q
      reporter.alert(
        'stale-if-error',
        `the command failed (${production.failed}); replaying the entry recorded ` +
          `${formatAge(recordedAt - fallback.recordedAt)} ago (${formatInstant(fallback.recordedAt, call.zone)}) instead (--stale-if-error)`,
      );
      return { result: (await this.replay(fallback)) ?? production.result, manifest: null };
    }
    if (!usable) return { result: production.result, manifest: null };
    const content = forWaiters ? null : await production.keep();
    if (content === null) {
      if (forWaiters) await production.discard();
      this.notRecorded = production.notRecorded?.() ?? null;
      return { result: production.result, manifest: null };
    }
    const manifest = entryOf(content);
    // An entry of a newer version of dcache under this key is left alone:
    // versions that share a cache must not destroy each other's entries.
    const existing = call.store.readEntry(call.key);
    if (existing.status === 'foreign') {
      call.store.discardSpares();
      this.notRecorded = `the entry under this key was written by a newer version of dcache (${existing.detail})`;
      return { result: production.result, manifest: null };
    }
    try {
      call.store.publishManifest(manifest);
    } catch (err) {
      reporter.alert('cache', `${call.material.kind === 'function' ? 'the result' : 'the run'} was not recorded (${describeError(err)})`);
      this.notRecorded = describeError(err);
      return { result: production.result, manifest: null };
    }
    return { result: production.result, manifest };
  }

  // Creates the cache directory; false, with one warning, if it cannot be used.
  private prepareStore(): boolean {
    try {
      this.call.store.prepare();
      return true;
    } catch (err) {
      this.reporter.alert('cache', `cannot use the cache directory ${this.call.store.root} (${describeError(err)}); running without the cache`);
      return false;
    }
  }

  // The automatic clean-up: after a miss's output is done, at most once an
  // hour, down to the configured size. Never fails the call.
  private async collectNowAndThen(): Promise<void> {
    try {
      await this.call.store.collectNowAndThen(this.call.maxSize, this.call.clock());
    } catch (err) {
      this.reporter.warnOnce('gc', `automatic clean-up failed (${describeError(err)})`);
    }
  }
}

