import { formatInstant, LOCAL_ZONE } from '../policy/clock.js';
import { formatAge } from '../policy/duration.js';
import { commandText, describeEntry, type EntryInfo } from './entry-info.js';
import { escapeControls } from '../terminal/text.js';
import { createPalette } from '../terminal/messages.js';
import { formatSize } from '../size.js';
import { readActivity } from '../store/local/activity.js';
import { readCatalog } from '../store/local/catalog.js';
import type { CacheCommandContext } from './context.js';

export const LS_JSON_VERSION = 1;
const SHORT_KEY = 12;

// dcache ls: one row per entry, oldest first.
export async function ls(ctx: CacheCommandContext, options: { json: boolean; remote: boolean }): Promise<number> {
  const { store } = ctx;
  const catalog = readCatalog(store);
  const activity = readActivity(ctx.dir);
  const infos = await Promise.all(catalog.entries.map((e) => describeEntry(e, activity, ctx.now)));
  if (options.json) {
    ctx.stdout.write(`${JSON.stringify({ version: LS_JSON_VERSION, entries: infos }, null, 2)}\n`);
    return 0;
  }
  if (infos.length === 0) {
    ctx.messages.warn(`no entries in ${ctx.dir}`);
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
    info.cwd === null ? '-' : escapeControls(info.cwd),
    commandText(info.argv, info.shell),
  ]);
  const header = ['KEY', 'RECORDED', 'STATE', 'SIZE', 'HITS', 'POLICY', 'CWD', 'COMMAND'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // On a terminal the row is cut to fit: the command first, then the
  // working directory (from the left), the policy and the state; never the key.
  const columns = ctx.stdout.isTTY ? ctx.stdout.columns : undefined;
  if (columns) fitColumns(widths, columns);
  const CWD = 6;
  const line = (cells: string[], style: (i: number, text: string) => string) =>
    cells
      .map((cell, i) => {
        const cut = i === CWD ? truncateLeft(cell, widths[i]!) : truncate(cell, widths[i]!);
        return style(i, i === cells.length - 1 ? cut : cut.padEnd(widths[i]!));
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

function truncateLeft(text: string, width: number): string {
  return text.length <= width ? text : `…${text.slice(text.length - Math.max(0, width - 1))}`;
}

// Narrows the shrinkable columns, in order, until a row fits `columns`.
function fitColumns(widths: number[], columns: number): void {
  const order: Array<[index: number, min: number]> = [
    [7, 10],
    [6, 8],
    [5, 6],
    [2, 5],
  ];
  const total = () => widths.reduce((n, w) => n + w, 0) + 2 * (widths.length - 1);
  for (const [index, min] of order) {
    const excess = total() - columns;
    if (excess <= 0) return;
    widths[index] = Math.max(min, widths[index]! - excess);
  }
}
