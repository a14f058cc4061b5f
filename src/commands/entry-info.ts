import { escapeControls, quoteArgument } from '../core/text.js';
import type { Activity, KeyActivity, RecordingActivity } from '../store/local/activity.js';
import type { CatalogEntry } from '../store/local/catalog.js';
import type { KeyMaterial } from '../schema/key.js';
import { storedVerdict } from '../store/local/gc.js';

// What ls and show say about an entry, in the shape of their --json output
// (version 1): field order is part of the contract.
export interface EntryInfo {
  key: string;
  argv: string[];
  shell: boolean;
  cwd: string | null;
  recordedAt: string;
  policies: string[];
  fresh: boolean;
  expiresAt: string | null;
  bytes: number;
  hits: number;
  lastHitAt: string | null;
  outputs: string[];
  exitCode: number;
  // hits served from the remote cache (a subset of hits)
  remoteHits: number;
  // background refreshes that failed (--stale-while-revalidate), and the last
  refreshFailures: number;
  lastRefreshFailure: { at: string; failed: string } | null;
  // the name of the function, for an entry of the library's cached(); its
  // argv is then [name], with no working directory and no outputs
  function: string | null;
}

export async function describeEntry(entry: CatalogEntry, activity: Activity, now: number): Promise<EntryInfo> {
  const m = entry.manifest;
  const { fresh, expiresAt } = await storedVerdict(entry, now);
  const usage = activity.keys.get(entry.key);
  const hits = hitsOfRecording(usage, m.recordedAt);
  return {
    key: entry.key,
    argv: m.material.kind === 'command' ? m.material.argv : m.material.kind === 'fetch' ? ['dcache', 'fetch', m.material.source] : [m.material.name],
    shell: m.material.kind === 'command' ? m.material.shell : false,
    cwd: m.material.kind === 'command' ? m.material.cwd : null,
    recordedAt: new Date(m.recordedAt).toISOString(),
    policies: m.policies,
    fresh,
    expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    bytes: entry.bytes,
    hits: hits.hits,
    lastHitAt: hits.lastHitAt === null ? null : new Date(hits.lastHitAt).toISOString(),
    outputs: m.material.kind === 'command' ? m.material.outputs : m.material.kind === 'fetch' && m.material.dest !== null ? [m.material.dest] : [],
    exitCode: m.exitCode,
    remoteHits: hits.remoteHits,
    refreshFailures: usage?.refreshFailures ?? 0,
    lastRefreshFailure: usage?.lastRefreshFailure
      ? { at: new Date(usage.lastRefreshFailure.t).toISOString(), failed: usage.lastRefreshFailure.failed }
      : null,
    function: m.material.kind === 'function' ? m.material.name : null,
  };
}

// The hits of an entry's recording: a hit before it (of an earlier
// recording of the key, or with the clock set back) is not one of its.
// Hits logged before events named their recording are the key's, counted
// only if the last came after the recording.
function hitsOfRecording(usage: KeyActivity | undefined, recordedAt: number): Pick<RecordingActivity, 'hits' | 'remoteHits' | 'lastHitAt'> {
  const none = { hits: 0, remoteHits: 0, lastHitAt: null };
  if (usage === undefined) return none;
  if (usage.recording !== undefined) return usage.recording.at === recordedAt ? usage.recording : none;
  if (usage.lastHitAt === null || usage.lastHitAt < recordedAt) return none;
  return { hits: usage.hits, remoteHits: usage.remoteHits ?? 0, lastHitAt: usage.lastHitAt };
}

// What made an entry, as a person reads it: a command line, or a function
// of the library as `name()`.
export function materialText(m: KeyMaterial): string {
  if (m.kind === 'fetch') return `fetch ${escapeControls(m.source)}`;
  return m.kind === 'function' ? `${escapeControls(m.name)}()` : commandText(m.argv, m.shell);
}

// How a command is shown to a person: the shell string, or argv with quotes
// where a shell would need them.
// Control characters are escaped (see display.ts).
export function commandText(argv: readonly string[], shell: boolean): string {
  if (shell) return escapeControls(argv[0] ?? '');
  return argv.map(quoteArgument).join(' ');
}
