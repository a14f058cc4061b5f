import { formatInstant, LOCAL_ZONE } from '../policy/clock.js';
import { formatAge } from '../policy/duration.js';
import { commandText, describeEntry, type EntryInfo } from './entry-info.js';
import { escapeControls, quoteArgument } from '../terminal/text.js';
import type { KeyMaterial } from '../schema/key.js';
import { createPalette } from '../terminal/messages.js';
import { formatSize } from '../size.js';
import { readActivity } from '../store/local/activity.js';
import { readCatalog } from '../store/local/catalog.js';
import type { Writable } from 'node:stream';
import type { CacheCommandContext } from './context.js';
import { drained } from '../process/drained.js';

export const LS_JSON_VERSION = 1;
const SHORT_KEY = 12;

// dcache ls: one row per entry, oldest first.
export async function ls(ctx: CacheCommandContext, options: { json: boolean; remote: boolean }): Promise<number> {
  const { store } = ctx;
  const catalog = readCatalog(store);
  const activity = readActivity(ctx.dir);
  const infos = await Promise.all(catalog.entries.map((e) => describeEntry(e, activity, ctx.now)));
  if (options.json) {
    await writeListing(ctx.stdout, infos);
    return 0;
  }
  if (infos.length === 0) {
    ctx.messages.warn(`no entries in ${ctx.dir}`);
    return 0;
  }
  const paint = createPalette(ctx.stdout, ctx.env, ctx.colour);
  // On a terminal, states are compact ("fresh 17h", "stale 2d") and the row
  // is fitted to the width; in a pipe every value is whole.
  const columns = ctx.stdout.isTTY ? ctx.stdout.columns : undefined;
  const rows = infos.map((info, n) => [
    info.key.slice(0, SHORT_KEY),
    `${formatAge(ctx.now - Date.parse(info.recordedAt))} ago`,
    columns ? compactState(info, ctx.now) : stateText(info),
    formatSize(info.bytes),
    options.remote ? `${info.hits} (${info.remoteHits} remote)` : String(info.hits),
    info.policies.join(','),
    info.cwd === null ? '-' : escapeControls(info.cwd),
    commandText(info.argv, info.shell),
  ]);
  // what tells entries of one command apart, kept when the command is cut
  const suffixes = infos.map(
    (info, n) => distinguishing(catalog.entries[n]!.manifest.material) + (info.exitCode === 0 ? '' : ` (exit ${info.exitCode})`),
  );
  for (const [n, row] of rows.entries()) row[7] = `${row[7]!}${suffixes[n]!}`;
  const header = ['KEY', 'RECORDED', 'STATE', 'SIZE', 'HITS', 'POLICY', 'CWD', 'COMMAND'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // On a terminal the row is cut to fit: the working directory first (from
  // the left, then left out), then the policy, the state and the command;
  // never the key.
  const shown = header.map(() => true);
  if (columns) fitColumns(widths, shown, columns);
  const CWD = 6;
  const COMMAND = 7;
  const line = (cells: string[], style: (i: number, text: string) => string, row: number | null = null) =>
    cells
      .map((cell, i) => {
        if (!shown[i]) return null;
        const cut =
          i === CWD
            ? truncateLeft(cell, widths[i]!)
            : i === COMMAND && row !== null
              ? truncateKeeping(cell, suffixes[row]!, widths[i]!)
              : truncate(cell, widths[i]!);
        return style(i, i === cells.length - 1 ? cut : cut.padEnd(widths[i]!));
      })
      .filter((cell) => cell !== null)
      .join('  ')
      .trimEnd();
  ctx.stdout.write(`${line(header, (_, t) => paint.bold(t))}\n`);
  for (const [n, row] of rows.entries()) {
    const fresh = infos[n]!.fresh;
    ctx.stdout.write(`${line(row, (i, t) => (i === 2 ? (fresh ? paint.green(t) : paint.yellow(t)) : i === 0 ? paint.bold(t) : t), n)}\n`);
  }
  return 0;
}

// Writes `{ version, entries }` exactly as JSON.stringify(…, null, 2) lays
// it out, an entry at a time, in writes of ENTRIES_A_WRITE entries: with
// 100,000 entries the whole text is over 50 MiB, and building it in one
// string cost hundreds of MB and a second of garbage collection.
export async function writeListing(out: Writable, infos: readonly EntryInfo[]): Promise<void> {
  let chunk = `{\n  "version": ${JSON.stringify(LS_JSON_VERSION)},\n  "entries": [`;
  for (const [n, info] of infos.entries()) {
    chunk += `${n === 0 ? '' : ','}\n    ${JSON.stringify(info, null, 2).replaceAll('\n', '\n    ')}`;
    if ((n + 1) % ENTRIES_A_WRITE === 0) {
      if (!out.write(chunk)) await drained(out);
      chunk = '';
    }
  }
  out.write(`${chunk}${infos.length === 0 ? '' : '\n  '}]\n}\n`);
}

const ENTRIES_A_WRITE = 500;

export function stateText(info: EntryInfo): string {
  if (!info.fresh) return 'stale';
  return info.expiresAt === null ? 'fresh' : `fresh until ${formatInstant(Date.parse(info.expiresAt), LOCAL_ZONE).slice(0, 16)}`;
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

// Cuts the command, not what follows it ([-o out.csv], (exit 3)), while
// at least 5 characters of the command are left.
function truncateKeeping(text: string, suffix: string, width: number): string {
  if (text.length <= width) return text;
  const room = width - suffix.length;
  if (suffix === '' || room < 5) return truncate(text, width);
  return `${truncate(text.slice(0, text.length - suffix.length), room)}${suffix}`;
}

function truncateLeft(text: string, width: number): string {
  return text.length <= width ? text : `…${text.slice(text.length - Math.max(0, width - 1))}`;
}

// Narrows the shrinkable columns, in order, until a row fits `columns`:
// the working directory down to 12 characters, then out; the policy; the
// command down to 24; the state; the command down to 10.
function fitColumns(widths: number[], shown: boolean[], columns: number): void {
  const total = () => widths.reduce((n, w, i) => n + (shown[i] ? w + 2 : 0), -2);
  const narrow = (index: number, min: number) => {
    const excess = total() - columns;
    if (excess > 0) widths[index] = Math.max(min, widths[index]! - excess);
  };
  narrow(6, 12);
  if (total() > columns) shown[6] = false;
  narrow(5, 6);
  narrow(7, 24);
  narrow(2, 5);
  narrow(7, 10);
}

// "fresh 17h" (until it goes stale), "stale 2d" (since), "fresh" (forever).
function compactState(info: EntryInfo, now: number): string {
  const expires = info.expiresAt === null ? null : Date.parse(info.expiresAt);
  if (info.fresh) return expires === null ? 'fresh' : `fresh ${coarseAge(expires - now)}`;
  return expires === null || expires > now ? 'stale' : `stale ${coarseAge(now - expires)}`;
}

// One unit: 45s, 12m, 17h, 3d.
function coarseAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// What tells apart entries of one command line: its -o, -e, --stdin, --key.
function distinguishing(material: KeyMaterial): string {
  if (material.kind !== 'command') return '';
  const parts = [
    ...material.outputs.map((o) => `-o ${quoteArgument(o)}`),
    ...material.env.map(([name]) => `-e ${name}`),
    ...(material.stdin === null ? [] : ['--stdin']),
    ...(material.extra === null ? [] : [`--key ${quoteArgument(material.extra)}`]),
  ];
  return parts.length === 0 ? '' : ` [${parts.join(' ')}]`;
}
