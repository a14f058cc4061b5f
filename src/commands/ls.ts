import { formatInstant, type Zone } from '../policy/clock.js';
import { formatAge } from '../policy/duration.js';
import { commandText, describeEntry, type EntryInfo } from './entry-info.js';
import { layOutListing, type CommandCell, type ListingRow } from './ls-table.js';
import { storedZone } from '../store/local/gc.js';
import { escapeControls, quoteArgument } from '../core/text.js';
import type { KeyMaterial } from '../schema/key.js';
import { createPalette } from '../terminal/messages.js';
import { formatSize } from '../core/size.js';
import { readActivity } from '../store/local/activity.js';
import { readCatalog } from '../store/local/catalog.js';
import type { Writable } from 'node:stream';
import type { CacheCommandContext } from './context.js';
import { drained } from '../core/drained.js';

export const LS_JSON_VERSION = 1;
// Keys are shown by their first 7 digits on a terminal, as git shows
// commits, or more where two listed keys share them.
const SHORT_KEY = 7;
// A terminal that does not say how wide it is, with no COLUMNS either.
const DEFAULT_WIDTH = 80;

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
  // Fitted to a width, values are compact ("fresh 17h", "stale 2d", keys
  // of 7 digits); in a pipe every value is whole.
  const width = listingWidth(ctx.stdout, ctx.env);
  const fitted = width !== null;
  const keys = fitted ? shortKeys(infos.map((info) => info.key)) : infos.map((info) => info.key);
  const rows = infos.map(
    (info, n): ListingRow => ({
      KEY: keys[n]!,
      AGE: fitted ? coarseAge(ctx.now - Date.parse(info.recordedAt)) : formatAge(ctx.now - Date.parse(info.recordedAt)),
      STATE: fitted ? compactState(info, ctx.now) : stateText(info, storedZone(catalog.entries[n]!), ctx.now),
      SIZE: formatSize(info.bytes),
      HITS: options.remote ? `${info.hits} (${info.remoteHits} remote)` : String(info.hits),
      POLICY: info.policies.join(','),
      CWD: info.cwd === null ? '-' : escapeControls(info.cwd),
      COMMAND: commandCell(info, catalog.entries[n]!.manifest.material),
    }),
  );
  const listing = layOutListing(rows, width, (column, text, row) => {
    if (row === null) return paint.bold(text);
    if (column === 'KEY') return paint.bold(text);
    if (column === 'STATE') return infos[row]!.fresh ? paint.green(text) : paint.yellow(text);
    return text;
  });
  let text = listing.header.map((line) => `${line}\n`).join('');
  for (const lines of listing.rows) text += lines.map((line) => `${line}\n`).join('');
  if (!ctx.stdout.write(text)) await drained(ctx.stdout);
  return 0;
}

// The width the table is fitted to: the terminal's, or COLUMNS where the
// terminal does not say (as GNU ls reads them), or 80. None in a pipe: a
// script reading the listing gets every value whole.
function listingWidth(stdout: CacheCommandContext['stdout'], env: NodeJS.ProcessEnv): number | null {
  if (stdout.isTTY !== true) return null;
  if (stdout.columns !== undefined && stdout.columns > 0) return stdout.columns;
  const columns = /^\d+$/.test(env.COLUMNS ?? '') ? Number(env.COLUMNS) : 0;
  return columns > 0 ? columns : DEFAULT_WIDTH;
}

// The shortest prefix, of SHORT_KEY digits or more, that tells the listed
// keys apart, so that each works with show and clear.
function shortKeys(keys: readonly string[]): string[] {
  let length = SHORT_KEY;
  while (length < 16 && new Set(keys.map((key) => key.slice(0, length))).size < keys.length) length += 1;
  return keys.map((key) => key.slice(0, length));
}

// The program, its arguments, and what tells entries of one command line
// apart (its -o, -e, --stdin, --key) with the exit code of a recorded
// failure. A shell string's program is its first word.
function commandCell(info: EntryInfo, material: KeyMaterial): CommandCell {
  const tags = distinguishing(material) + (info.exitCode === 0 ? '' : ` (exit ${info.exitCode})`);
  const text = commandText(info.argv, info.shell);
  if (info.shell) {
    const space = text.indexOf(' ');
    return space === -1 ? { program: text, args: '', tags } : { program: text.slice(0, space), args: text.slice(space + 1), tags };
  }
  const [program = '', ...args] = info.argv;
  return { program: quoteArgument(program), args: commandText(args, false), tags };
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

// The state of an entry, whole: "fresh until 2024-08-28 00:00:00 +02:00",
// "stale since …", in the zone its policies are judged in.
export function stateText(info: EntryInfo, zone: Zone, now: number): string {
  const expires = info.expiresAt === null ? null : Date.parse(info.expiresAt);
  if (info.fresh) return expires === null ? 'fresh forever' : `fresh until ${formatInstant(expires, zone)}`;
  if (Date.parse(info.recordedAt) > now) return 'stale (recorded after now)';
  return expires === null ? 'stale' : `stale since ${formatInstant(expires, zone)}`;
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
