import { parseDuration } from '../policy/duration.js';
import { ExitError } from '../core/errors.js';
import { formatSize, parseSize } from '../core/size.js';
import { collectGarbage } from '../store/local/gc.js';
import { cleanableSchemes, cleaningOf, DEFAULT_REMOTE_TIMEOUT_MS, openRemote, parseRemote } from '../store/remote/registry.js';
import { RemoteError, type RemoteBackend } from '../store/remote/backend.js';
import type { CacheCommandContext } from './context.js';
import { failedRemovals, plural, refuseReadOnly } from './clear.js';

// dcache gc: frees what no longer earns its place, and says how much.
export async function gc(
  ctx: CacheCommandContext,
  options: { maxSize?: string; maxAge?: string; maxEntries?: string; remote?: string; remoteTimeout?: string },
): Promise<number> {
  let maxSize: number | null = null;
  if (options.maxSize !== undefined) {
    const parsed = parseSize(options.maxSize);
    if (!parsed.ok) throw new ExitError(`--max-size ${parsed.error}`, 2);
    maxSize = parsed.value;
  }
  let maxAgeMs: number | null = null;
  if (options.maxAge !== undefined) {
    const parsed = parseDuration(options.maxAge);
    if (!parsed.ok) throw new ExitError(`--max-age ${parsed.error}`, 2);
    maxAgeMs = parsed.value;
  }
  let maxEntries: number | null = null;
  if (options.maxEntries !== undefined) {
    if (!/^\d+$/.test(options.maxEntries)) throw new ExitError(`--max-entries '${options.maxEntries}' is not a number of entries; use a whole number, e.g. --max-entries 1000`, 2);
    maxEntries = Number(options.maxEntries);
  }
  if (options.remote !== undefined) return remoteGc(ctx, options.remote, maxAgeMs, maxSize, maxEntries, options.remoteTimeout);
  refuseReadOnly(ctx, 'gc');
  const report = await collectGarbage(ctx.store, { maxSize, maxAgeMs, maxEntries, now: ctx.now });
  ctx.stdout.write(
    `freed ${formatSize(report.bytes)}: ${plural(report.entries, 'entry', 'entries')}, ` +
      `${plural(report.blobs, 'blob', 'blobs')}, ${plural(report.temps, 'temp file', 'temp files')}\n`,
  );
  return failedRemovals(ctx, report);
}

// A day: blobs and leases younger than this are left alone by gc --remote,
// as another machine may be between uploading a blob and writing the
// manifest that names it.
export const REMOTE_GC_GRACE_MS = 24 * 60 * 60 * 1000;

// dcache gc --remote <url>: the same clean-up on a shared cache in a bucket
// or a shared directory. A remote that fails is an error here: gc was asked
// to clean it, and nothing else.
async function remoteGc(
  ctx: CacheCommandContext,
  url: string,
  maxAgeMs: number | null,
  maxSize: number | null,
  maxEntries: number | null,
  timeoutText: string | undefined,
): Promise<number> {
  let timeoutMs = DEFAULT_REMOTE_TIMEOUT_MS;
  if (timeoutText !== undefined) {
    const parsed = parseDuration(timeoutText);
    if (!parsed.ok) throw new ExitError(`--remote-timeout ${parsed.error}`, 2);
    timeoutMs = parsed.value;
  }
  const parsed = parseRemote(url, false, timeoutMs);
  if (!parsed.ok) throw new ExitError(parsed.error, 2);
  const spec = parsed.value;
  // what the kind can do, asked of the registry before anything connects
  const cleans = cleaningOf(spec);
  if (cleans.bounds.length === 0) {
    throw new ExitError(`gc --remote: ${spec.label} cannot be listed; gc cleans ${listAnd(cleanableSchemes())} remotes (${cleans.otherwise ?? 'its own rules keep it'})`, 2);
  }
  const unbounded = maxSize !== null && !cleans.bounds.includes('size') ? '--max-size' : maxEntries !== null && !cleans.bounds.includes('entries') ? '--max-entries' : null;
  if (unbounded !== null) {
    throw new ExitError(`gc --remote: ${unbounded} is for a cache directory; bound ${spec.label} with --max-age, or ${cleans.otherwise ?? 'its own rules'}`, 2);
  }
  let remote: RemoteBackend;
  try {
    remote = await openRemote(spec, ctx.env, ctx.store.host);
  } catch (err) {
    if (err instanceof RemoteError) throw new ExitError(err.message, 1);
    throw err;
  }
  try {
    if (remote.collectGarbage === undefined) throw new ExitError(`gc --remote: ${spec.label} cannot be listed`, 2);
    const report = await remote.collectGarbage({ maxAgeMs, maxSize, maxEntries, now: ctx.now, graceMs: REMOTE_GC_GRACE_MS });
    // what each kind counts: a directory its temp files, a bucket its leases and what it kept
    const removed = [plural(report.entries, 'entry', 'entries'), plural(report.blobs, 'blob', 'blobs')];
    if (report.temps !== undefined) removed.push(plural(report.temps, 'temp file', 'temp files'));
    if (report.leases !== undefined) removed.push(plural(report.leases, 'lease', 'leases'));
    const kept = report.kept === undefined ? '' : `; kept ${plural(report.kept, 'entry', 'entries')}`;
    ctx.stdout.write(`freed ${formatSize(report.bytes)} on ${spec.label}: ${removed.join(', ')}${kept}\n`);
    if ((report.foreign ?? 0) > 0) {
      ctx.messages.warn(
        `${plural(report.foreign!, 'entry', 'entries')} on ${spec.label} written by a newer dcache: no blob was removed, as this version cannot tell which they name`,
      );
    }
    if ((report.failed ?? 0) > 0) {
      ctx.messages.warn(`${plural(report.failed!, 'file', 'files')} could not be removed on ${spec.label} (${report.failure})`);
      return 1;
    }
    return 0;
  } catch (err) {
    if (err instanceof RemoteError) throw new ExitError(err.message, 1);
    throw err;
  } finally {
    await remote.close();
  }
}

// "a, b and c"
function listAnd(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
