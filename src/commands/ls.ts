import { formatInstant, LOCAL_ZONE } from '../clock.js';
import { formatAge } from '../duration.js';
import { commandText, describeEntry, type EntryInfo } from '../entry-info.js';
import { createPalette } from '../output.js';
import { formatSize } from '../size.js';
import { readActivity } from '../store/activity.js';
import { readCatalog } from '../store/catalog.js';
import { LocalStore } from '../store/local-store.js';
import type { CacheCommandContext } from './context.js';

export const LS_JSON_VERSION = 1;
const SHORT_KEY = 12;

// dcache ls: one row per entry, oldest first.
export async function ls(ctx: CacheCommandContext, options: { json: boolean; remote: boolean }): Promise<number> {
  const store = new LocalStore(ctx.dir);
  const catalog = readCatalog(store);
  const activity = readActivity(ctx.dir);
  const infos = await Promise.all(catalog.entries.map((e) => describeEntry(e, activity, ctx.now)));
  if (options.json) {
    ctx.stdout.write(`${JSON.stringify({ version: LS_JSON_VERSION, entries: infos }, null, 2)}\n`);
    return 0;
  }
  if (infos.length === 0) {
    ctx.output.warn(`no entries in ${ctx.dir}`);
    return 0;
  }
  const paint = createPalette(ctx.stdout, ctx.env, ctx.colour);
  const rows = infos.map((info) => [
    info.key.slice(0, SHORT_KEY),
    `${formatAge(ctx.now - Date.parse(info.recordedAt))} ago`,
    stateText(info),
    formatSize(info.bytes),
    options.remote ? `${info.hits} (${info.remoteHits} remote)` : String(info.hits),
    info.policies.join(','),
    info.cwd ?? '-',
    commandText(info.argv, info.shell),
  ]);
  const header = ['KEY', 'RECORDED', 'STATE', 'SIZE', 'HITS', 'POLICY', 'CWD', 'COMMAND'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // On a terminal the last column, the command, is cut to fit; the key never is.
  const columns = ctx.stdout.isTTY ? ctx.stdout.columns : undefined;
  const fixed = widths.slice(0, -1).reduce((n, w) => n + w + 2, 0);
  const commandWidth = columns ? Math.max(10, columns - fixed) : Infinity;
  const line = (cells: string[], style: (i: number, text: string) => string) =>
    cells
      .map((cell, i) => {
        const last = i === cells.length - 1;
        const text = last ? truncate(cell, commandWidth) : cell.padEnd(widths[i]!);
        return style(i, text);
      })
      .join('  ')
      .trimEnd();
  ctx.stdout.write(`${line(header, (_, t) => paint.bold(t))}\n`);
  for (const [n, row] of rows.entries()) {
    const fresh = infos[n]!.fresh;
    ctx.stdout.write(`${line(row, (i, t) => (i === 2 ? (fresh ? paint.green(t) : paint.yellow(t)) : i === 0 ? paint.bold(t) : t))}\n`);
  }
  return 0;
}

export function stateText(info: EntryInfo): string {
  if (!info.fresh) return 'stale';
  return info.expiresAt === null ? 'fresh' : `fresh until ${formatInstant(Date.parse(info.expiresAt), LOCAL_ZONE).slice(0, 16)}`;
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}
