import { statSync } from 'node:fs';
import { parseDuration } from '../policy/duration.js';
import { materialText } from './entry-info.js';
import { ExitError } from '../core/errors.js';
import { blobsOf } from '../schema/manifest.js';
import { makeCommandCall, type CommandInputs } from './command-call.js';
import { nearEntries } from './near.js';
import { formatSize } from '../core/size.js';
import { readCatalog, type CatalogEntry } from '../store/local/catalog.js';
import { emptyReport, removeEntry, storedVerdict, sweepBlobs, type GcReport } from '../store/local/gc.js';
import type { CacheCommandContext } from './context.js';
import { findOne } from './show.js';

export interface ClearSelection {
  prefixes: string[];
  all: boolean;
  stale: boolean;
  olderThan: string | undefined;
  // `-- <command>`: the key derived exactly as dcache run would
  command: CommandInputs | null;
  dryRun: boolean;
}

export const CLEAR_SELECTORS = 'give key prefixes, --all, --stale, --older-than <duration> or -- <command>';

// dcache clear: removes the selected entries and the blobs only they used.
export async function clear(ctx: CacheCommandContext, selection: ClearSelection): Promise<number> {
  const { prefixes, all, stale, olderThan, command } = selection;
  if (prefixes.length === 0 && !all && !stale && olderThan === undefined && command === null) {
    throw new ExitError(`nothing selected, nothing removed; ${CLEAR_SELECTORS}`, 2);
  }
  let olderThanMs: number | null = null;
  if (olderThan !== undefined) {
    const parsed = parseDuration(olderThan);
    if (!parsed.ok) throw new ExitError(`--older-than ${parsed.error}`, 2);
    olderThanMs = parsed.value;
  }
  let commandKey: string | null = null;
  let commandCall: Awaited<ReturnType<typeof makeCommandCall>> | null = null;
  if (command !== null) {
    commandCall = await makeCommandCall(command);
    if (!commandCall.ok) throw new ExitError(commandCall.error, 2);
    commandCall.value.stdin?.dispose();
    commandKey = commandCall.value.key;
  }
  const { store } = ctx;
  const catalog = readCatalog(store);
  const selected = new Set<CatalogEntry>();
  // Every prefix is checked before anything is removed; one that names
  // several entries is an error listing them.
  for (const prefix of prefixes) selected.add(findOne(catalog, prefix));
  for (const entry of catalog.entries) {
    if (all) selected.add(entry);
    else if (olderThanMs !== null && ctx.now - entry.manifest.recordedAt > olderThanMs) selected.add(entry);
    else if (commandKey !== null && entry.key === commandKey) selected.add(entry);
    else if (stale && !(await storedVerdict(entry, ctx.now)).fresh) selected.add(entry);
  }
  const chosen = catalog.entries.filter((e) => selected.has(e));
  // `clear -- <command>` that selects nothing: name the entries of that command
  if (commandCall?.ok && !catalog.entries.some((e) => e.key === commandKey)) {
    const near = nearEntries(store, commandCall.value.material, ctx.now);
    for (const line of near) ctx.messages.warn(`no entry for this command line; one recorded with other options: ${line}`);
  }
  const kept = catalog.entries.filter((e) => !selected.has(e));
  if (selection.dryRun) {
    const keptBlobs = new Set<string>(kept.flatMap((e) => blobsOf(e.manifest).map((b) => b.hash)));
    const freed = new Map<string, number>();
    for (const entry of chosen) for (const b of blobsOf(entry.manifest)) if (!keptBlobs.has(b.hash)) freed.set(b.hash, b.size);
    const manifests = chosen.reduce((n, e) => n + fileSize(store.manifestPath(e.key)), 0);
    const bytes = [...freed.values()].reduce((n, s) => n + s, manifests);
    for (const entry of chosen) ctx.stdout.write(`${entry.key}  ${materialText(entry.manifest.material)}\n`);
    ctx.stdout.write(`would remove ${plural(chosen.length, 'entry', 'entries')}, ${formatSize(bytes)} (--dry-run: nothing removed)\n`);
    return 0;
  }
  if (chosen.length > 0) refuseReadOnly(ctx, 'clear');
  const report = emptyReport();
  const started = store.host.wallNow() - 1000;
  for (const entry of chosen) removeEntry(store, entry.key, report);
  // The blobs that only the removed entries used go with them.
  const released = new Set<string>(chosen.flatMap((e) => blobsOf(e.manifest).map((b) => b.hash)));
  sweepBlobs(store, kept, released, report, started);
  ctx.stdout.write(`removed ${plural(report.entries, 'entry', 'entries')}, ${formatSize(report.bytes)}\n`);
  return failedRemovals(ctx, report);
}

// A cache on a read-only file system (a mount, a snapshot) cannot be
// cleaned: one line and exit 2, before anything is tried.
export function refuseReadOnly(ctx: CacheCommandContext, command: string): void {
  const problem = ctx.store.whyNotWritable();
  if (problem !== null) throw new ExitError(`${command}: cannot remove anything from the cache directory ${ctx.store.root} (${problem})`, 2);
}

// What could not be removed, said once, with the exit code: 1 if anything
// was left behind, 0 if not.
export function failedRemovals(ctx: CacheCommandContext, report: GcReport): number {
  if (report.failed === 0) return 0;
  ctx.messages.warn(`${plural(report.failed, 'file', 'files')} could not be removed (${report.failure}); they are still in ${ctx.store.root}`);
  return 1;
}

export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
