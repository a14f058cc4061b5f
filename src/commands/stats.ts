import { formatSpan } from '../policy/duration.js';
import { materialText } from './entry-info.js';
import { createPalette } from '../terminal/messages.js';
import { formatSize } from '../core/size.js';
import { clearActivity, dayOf, readActivity } from '../store/local/activity.js';
import { listBlobs, readCatalog } from '../store/local/catalog.js';
import type { CacheCommandContext } from './context.js';

export const STATS_JSON_VERSION = 1;
const TOP = 10;
// days in the JSON (a contract), and in the chart on a terminal
const DAYS = 14;
const CHART_DAYS = 30;

// dcache stats: how much the cache holds and what it has saved.
export async function stats(ctx: CacheCommandContext, options: { json: boolean; zero: boolean }): Promise<number> {
  if (options.zero) {
    clearActivity(ctx.dir);
    // with --json, the answer is the statistics as they now are
    if (!options.json) {
      ctx.stdout.write('statistics reset\n');
      return 0;
    }
  }
  const { store } = ctx;
  const catalog = readCatalog(store);
  const activity = readActivity(ctx.dir);
  const byKey = new Map(catalog.entries.map((e) => [e.key as string, e]));
  let hits = 0;
  let remoteHits = 0;
  let misses = 0;
  let savedMs = 0;
  let refreshFailures = 0;
  for (const k of activity.keys.values()) {
    refreshFailures += k.refreshFailures ?? 0;
    hits += k.hits;
    remoteHits += k.remoteHits ?? 0;
    misses += k.misses;
    savedMs += k.savedMs;
  }
  const commands = [...activity.keys.entries()]
    .map(([key, k]) => {
      const entry = byKey.get(key);
      return {
        key,
        command: entry ? materialText(entry.manifest.material) : null,
        hits: k.hits,
        remoteHits: k.remoteHits ?? 0,
        misses: k.misses,
        savedMs: k.savedMs,
      };
    })
    .sort((a, b) => b.savedMs - a.savedMs || b.hits - a.hits || (a.key < b.key ? -1 : 1))
    .slice(0, TOP);
  const today = new Date(ctx.now);
  const lastDays = (count: number) =>
    Array.from({ length: count }, (_, i) => {
      const date = dayOf(new Date(today.getFullYear(), today.getMonth(), today.getDate() - (count - 1 - i), 12).getTime());
      const d = activity.days.get(date);
      return { date, hits: d?.hits ?? 0, misses: d?.misses ?? 0, savedMs: d?.savedMs ?? 0 };
    });
  const days = lastDays(DAYS);
  const bytes = listBlobs(store).reduce((n, b) => n + b.size, 0);
  const hitRate = hits + misses === 0 ? null : hits / (hits + misses);
  if (options.json) {
    const report = {
      version: STATS_JSON_VERSION,
      entries: catalog.entries.length,
      bytes,
      hits,
      misses,
      hitRate,
      savedMs,
      commands,
      days,
      remoteHits,
      refreshFailures,
      maxBytes: ctx.maxSize.bytes,
    };
    ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const paint = createPalette(ctx.stdout, ctx.env, ctx.colour);
  const out = (line = '') => ctx.stdout.write(`${line}\n`);
  // as ccache -s shows its size: what is held, of the limit, and the share
  const share = (bytes / ctx.maxSize.bytes) * 100;
  const shareText = ctx.maxSize.bytes === 0 ? '' : ` (${share < 10 ? share.toFixed(1) : Math.round(share)}%)`;
  out(`${paint.bold('entries')}     ${catalog.entries.length}`);
  out(`${paint.bold('size')}        ${formatSize(bytes)} of ${formatSize(ctx.maxSize.bytes)}${shareText}` + paint.dim(`  max-size: ${ctx.maxSize.source}`));
  out(
    `${paint.bold('hits')}        ${hits} (${remoteHits} from the remote cache), misses ${misses}, ` +
      `hit rate ${hitRate === null ? '-' : `${Math.round(hitRate * 100)}%`}`,
  );
  out(`${paint.bold('time saved')}  ${formatSpan(savedMs)}`);
  if (refreshFailures > 0) out(`${paint.bold('refreshes')}   ${refreshFailures} background ${refreshFailures === 1 ? 'refresh' : 'refreshes'} failed (see dcache show)`);
  if (commands.length > 0) {
    out();
    out(paint.bold('top commands'));
    // a command that was never recorded (its runs failed) and never hit is not one
    for (const c of commands.filter((c) => c.command !== null || c.hits > 0)) {
      out(`  ${c.key}  ${String(c.hits).padStart(6)} hits  ${formatSpan(c.savedMs).padStart(7)} saved  ${c.command ?? '(entry removed)'}`);
    }
  }
  if (ctx.stdout.isTTY) {
    out();
    out(paint.bold(`last ${CHART_DAYS} days`) + paint.dim('  (hits green, misses yellow; hits/misses, time saved)'));
    const chart = lastDays(CHART_DAYS);
    const most = Math.max(1, ...chart.map((d) => d.hits + d.misses));
    const width = 40;
    for (const d of chart) {
      const h = Math.round((d.hits / most) * width);
      const m = Math.round((d.misses / most) * width);
      const counts = `${d.hits}/${d.misses}`;
      const saved = d.savedMs > 0 ? `  ${formatSpan(d.savedMs)}` : '';
      out(`  ${d.date.slice(5)}  ${paint.green('█'.repeat(h))}${paint.yellow('█'.repeat(m))} ${counts}${paint.dim(saved)}`);
    }
  }
  return 0;
}
