import { displayHash } from '../core/hash.js';
import { formatSize } from '../core/size.js';
import { verifyStore } from '../store/local/verify.js';
import { plural, refuseReadOnly } from './clear.js';
import type { CacheCommandContext } from './context.js';

// dcache verify: hashes every blob of the cache directory again, removes
// the damaged ones with the entries that name them, and says what it found.
// Exit 0 when every blob is intact, 1 when any was damaged (it is removed
// by then, as `fsck` repairs and still says so).
export async function verify(ctx: CacheCommandContext): Promise<number> {
  // it marks the blobs it checked, and removes the damaged ones
  refuseReadOnly(ctx, 'verify');
  const report = await verifyStore(ctx.store);
  for (const damaged of report.damaged) {
    const entries = damaged.entries === 0 ? '' : damaged.entries === 1 ? ', with the entry that named it' : `, with the ${damaged.entries} entries that named it`;
    ctx.stdout.write(`damaged: blob ${displayHash(damaged.hash)}, whose bytes hash to ${displayHash(damaged.found)}: removed${entries}\n`);
  }
  const found = report.damaged.length === 0 ? 'all intact' : `${report.damaged.length} damaged`;
  const skipped = report.skipped === 0 ? '' : `; ${plural(report.skipped, 'blob', 'blobs')} left unread (not trusted, or removed meanwhile)`;
  ctx.stdout.write(`verified ${plural(report.blobs, 'blob', 'blobs')}, ${formatSize(report.bytes)}: ${found}${skipped}\n`);
  return report.damaged.length === 0 ? 0 : 1;
}
