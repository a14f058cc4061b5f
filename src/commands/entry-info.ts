import { escapeControls, quoteArgument } from '../terminal/text.js';
import type { Activity } from '../store/local/activity.js';
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
  return {
    key: entry.key,
    argv: m.material.kind === 'command' ? m.material.argv : [m.material.name],
    shell: m.material.kind === 'command' ? m.material.shell : false,
    cwd: m.material.kind === 'command' ? m.material.cwd : null,
    recordedAt: new Date(m.recordedAt).toISOString(),
    policies: m.policies,
    fresh,
    expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    bytes: entry.bytes,
    hits: usage?.hits ?? 0,
    lastHitAt: usage?.lastHitAt ? new Date(usage.lastHitAt).toISOString() : null,
    outputs: m.material.kind === 'command' ? m.material.outputs : [],
    exitCode: m.exitCode,
    remoteHits: usage?.remoteHits ?? 0,
    refreshFailures: usage?.refreshFailures ?? 0,
    lastRefreshFailure: usage?.lastRefreshFailure
      ? { at: new Date(usage.lastRefreshFailure.t).toISOString(), failed: usage.lastRefreshFailure.failed }
      : null,
    function: m.material.kind === 'function' ? m.material.name : null,
  };
}

// What made an entry, as a person reads it: a command line, or a function
// of the library as `name()`.
export function materialText(m: KeyMaterial): string {
  return m.kind === 'function' ? `${escapeControls(m.name)}()` : commandText(m.argv, m.shell);
}

// How a command is shown to a person: the shell string, or argv with quotes
// where a shell would need them.
// Control characters are escaped (see display.ts).
export function commandText(argv: readonly string[], shell: boolean): string {
  if (shell) return escapeControls(argv[0] ?? '');
  return argv.map(quoteArgument).join(' ');
}
