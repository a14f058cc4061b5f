import { parseDuration } from '../policy/duration.js';
import { ExitError } from '../errors.js';
import { formatSize, parseSize } from '../size.js';
import { collectGarbage } from '../store/local/gc.js';
import type { CacheCommandContext } from './context.js';
import { plural } from './clear.js';

// dcache gc: frees what no longer earns its place, and says how much.
export async function gc(ctx: CacheCommandContext, options: { maxSize?: string; maxAge?: string }): Promise<number> {
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
  const report = await collectGarbage(ctx.store, { maxSize, maxAgeMs, now: ctx.now });
  ctx.stdout.write(
    `freed ${formatSize(report.bytes)}: ${plural(report.entries, 'entry', 'entries')}, ` +
      `${plural(report.blobs, 'blob', 'blobs')}, ${plural(report.temps, 'temp file', 'temp files')}\n`,
  );
  return 0;
}
