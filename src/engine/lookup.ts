import { sameKeyMaterial } from '../schema/key.js';
import type { Manifest } from '../schema/manifest.js';
import { checkSources } from '../sources/check.js';
import type { SharedTier } from '../ports/tiers.js';
import type { Call } from './call.js';
import { judgeRules, judgeSources, miss, type Decision } from './decide.js';
import type { Reporter } from '../ports/reporter.js';
import { optionName, producing } from './wording.js';

// Looking entries up: in the local store, and on the shared cache.

// Decides whether the local entry for a call's key may be replayed. Drops an
// entry found damaged (unless this is a query, `tidy` false: status asks,
// and a question removes nothing); leaves one of a newer version alone. With
// `force`, the entry is still read (for --stale-if-error) but never judged
// fresh.
export async function lookUpLocal(call: Call, reporter: Reporter, force = call.force, tidy = true): Promise<Decision> {
  return (await lookUp(call, reporter, force, tidy)).decision;
}

// A lookup, with what the engine needs to know of the manifest file besides
// the decision: which version of it was judged (`stamp`: whether it changed
// since is then a stat, not another read), and whether it was written by a
// newer version of dcache (not to be overwritten: what it is).
export interface Looked {
  decision: Decision;
  stamp: string | null;
  foreign: string | null;
}

export async function lookUp(call: Call, reporter: Reporter, force = call.force, tidy = true): Promise<Looked> {
  const { store, key } = call;
  const distrust = store.whyNotTrusted();
  if (distrust !== null) {
    reporter.alert('cache', `cannot use the cache directory ${store.root} (${distrust}); running without the cache`);
    return { decision: miss('cache directory refused'), stamp: null, foreign: null };
  }
  const read = store.readEntry(key);
  // what stands there after what this lookup did (a bad entry dropped)
  const now = (decision: Decision, foreign: string | null = null): Looked => ({ decision, stamp: store.entryStamp(key), foreign });
  switch (read.status) {
    case 'absent':
      return { decision: miss('no entry'), stamp: null, foreign: null };
    case 'unreadable':
      reporter.alert('cache', `cannot read the cache entry (${read.detail}); ${producing(call.material)}`);
      return now(miss('entry unreadable'));
    case 'foreign':
      return now(miss(`the entry was written by a newer version of dcache (${read.detail})`), read.detail);
    case 'distrusted':
      reporter.alert('cache-entry', `ignored the cache entry: ${read.detail}; ${producing(call.material)}`);
      return now(miss('entry not trusted'));
    case 'bad':
      if (!tidy) return now(miss(`bad entry (${read.detail})`));
      reporter.warn(`dropped a bad cache entry (${read.detail}); ${producing(call.material)}`);
      store.dropEntry(null, key, null);
      return now(miss('bad entry'));
    case 'found':
      break;
  }
  const manifest = read.manifest;
  const judged = (decision: Decision): Looked => ({ decision, stamp: read.stamp, foreign: null });
  if (!sameKeyMaterial(manifest.material, call.material)) return judged(miss(`the entry under this key is for another ${call.material.kind === 'function' ? 'call' : 'command'}`));
  const missing = store.checkBlobs(manifest);
  if (missing) {
    if (!tidy) return judged(miss(`bad entry (${missing.detail})`));
    reporter.warn(`dropped a bad cache entry (${missing.detail}); ${producing(call.material)}`);
    store.dropEntry(manifest, key, missing.hash);
    return now(miss('bad entry'));
  }
  if (force) return judged(miss(optionName(call.material.kind, 'force'), manifest));
  return judged(await judgeEntry(call, manifest, reporter));
}

// Judges an entry whose key material matches: its rules, then (only if they
// hold) its watched sources. Used for local and remote entries alike; the
// files of another machine's entry are read whatever their size and mtime.
export async function judgeEntry(
  call: Call,
  manifest: Manifest,
  reporter: Reporter,
  { trustFileTimes = true }: { trustFileTimes?: boolean } = {},
): Promise<Decision> {
  const rules = judgeRules(manifest, call, call.clock());
  if (!rules.fresh) return rules.decision;
  const ctx = { cwd: call.cwd, env: call.commandEnv, timeoutMs: call.watch.timeoutMs, wallNow: () => call.host.wallNow() };
  const checks = await checkSources(call.watch.sources, manifest.validators, ctx, reporter, trustFileTimes);
  return judgeSources(manifest, rules.verdict, checks);
}

// Whether the shared cache holds an entry this call may replay, without
// copying it.
export async function lookUpShared(call: Call, shared: SharedTier, reporter: Reporter): Promise<(Decision & { fresh: true }) | null> {
  const entry = await shared.fetchEntry(call.key, call.material);
  if (entry === null) return null;
  const decision = await judgeEntry(call, entry, reporter, { trustFileTimes: false });
  return decision.fresh ? decision : null;
}

// Copies a fresh entry of the shared cache into the local store, every blob
// verified, and returns the decision to replay it; null if there is none.
export async function pullShared(call: Call, shared: SharedTier, reporter: Reporter): Promise<(Decision & { fresh: true }) | null> {
  const decision = await lookUpShared(call, shared, reporter);
  if (decision === null || !(await shared.download(decision.manifest))) return null;
  call.store.publishManifest(decision.manifest);
  return decision;
}
