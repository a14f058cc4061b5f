import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';

// A time zone for calendar arithmetic. `name` is an IANA name (Europe/Paris);
// null is the process's own zone (TZ, or the system's), which is served by
// Date's local methods alone: the first Intl formatter with a `timeZone`
// costs about 15 ms of ICU start-up, a visible share of a cache hit.
export type Zone = { name: string | null };

export const LOCAL_ZONE: Zone = Object.freeze({ name: null });

export const ZONE_EXAMPLES = 'Europe/Paris, America/New_York, Asia/Tokyo or UTC';

// Reads --tz: an IANA zone name, case-insensitive. The name is kept as the
// user wrote it, in canonical case (europe/paris becomes Europe/Paris), but
// not swapped for ICU's preferred alias (Asia/Kolkata stays, not
// Asia/Calcutta).
export function parseZone(name: string): Result<Zone, string> {
  if (name === '') return fail(`--tz '' is not a time zone; use an IANA name such as ${ZONE_EXAMPLES}`);
  let formatter: Intl.DateTimeFormat;
  try {
    formatter = createFormatter(name);
  } catch (error) {
    if (error instanceof RangeError) {
      return fail(`--tz '${name}' is not a time zone; use an IANA name such as ${ZONE_EXAMPLES}`);
    }
    throw error;
  }
  const resolved = formatter.resolvedOptions().timeZone;
  const kept = resolved.toLowerCase() === name.toLowerCase() ? resolved : name;
  formatters.set(kept, formatter);
  return ok({ name: kept });
}

// A date and time on a wall clock, without a zone. `month` is 1-12; fields
// past their range roll over (day 32 is the 1st of the next month), so
// callers can step through the calendar by adding to a field.
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

// How far the zone's wall clock is ahead of UTC at `instant`, in milliseconds
// (negative west of UTC).
export function offsetAt(instant: number, zone: Zone): number {
  if (zone.name === null) return -new Date(instant).getTimezoneOffset() * MINUTE;
  const date = new Date(instant);
  const millisecond = date.getUTCMilliseconds();
  const fields: Record<string, number> = {};
  for (const part of formatterFor(zone.name).formatToParts(date)) fields[part.type] = Number(part.value);
  const wall = wallClockToMs({
    year: fields.year ?? Number.NaN,
    month: fields.month ?? Number.NaN,
    day: fields.day ?? Number.NaN,
    // some ICU versions write midnight as 24 even with hourCycle h23
    hour: (fields.hour ?? Number.NaN) % 24,
    minute: fields.minute ?? Number.NaN,
    second: fields.second ?? Number.NaN,
    millisecond,
  });
  const offset = wall - instant;
  if (!Number.isFinite(offset)) throw new Error(`cannot read the offset of ${zone.name} at ${instant}`);
  return offset;
}

// The zone's wall clock at `instant`.
export function wallClockAt(instant: number, zone: Zone): WallClock {
  const wall = new Date(instant + offsetAt(instant, zone));
  return {
    year: wall.getUTCFullYear(),
    month: wall.getUTCMonth() + 1,
    day: wall.getUTCDate(),
    hour: wall.getUTCHours(),
    minute: wall.getUTCMinutes(),
    second: wall.getUTCSeconds(),
    millisecond: wall.getUTCMilliseconds(),
  };
}

// What to do with a wall-clock time that a DST change skips (02:30 on the
// night clocks spring forward from 02:00 to 03:00):
// - 'shift' moves it forward by the length of the gap (03:30), as Date does;
// - 'next-valid' takes the first instant at or after it (03:00), which is
//   what a calendar boundary such as "the day starts at 02:30" means.
export type GapRule = 'shift' | 'next-valid';

// The instant at which the zone's wall clock shows `wall`. A time that occurs
// twice (clocks falling back) gives the earlier instant; a skipped time
// follows `gap`.
export function instantOfWallClock(wall: WallClock, zone: Zone, gap: GapRule): number {
  const wallMs = wallClockToMs(wall);
  // The offsets a day either side bracket any single transition near `wall`.
  const before = offsetAt(wallMs - DAY, zone);
  const after = offsetAt(wallMs + DAY, zone);
  const valid = [wallMs - before, wallMs - after].filter((t) => t + offsetAt(t, zone) === wallMs);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: wallMs - after is before the transition, wallMs - before after it.
  if (gap === 'shift') return wallMs - before;
  return findOffsetChange(wallMs - after, wallMs - before, zone);
}

// The first instant in (from, to] whose offset differs from the offset at
// `from`; `to` if there is none. Transitions are rare and the span short, so
// a binary search to the millisecond is cheap.
export function findOffsetChange(from: number, to: number, zone: Zone): number {
  const start = offsetAt(from, zone);
  if (offsetAt(to, zone) === start) return to;
  let lo = from;
  let hi = to;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offsetAt(mid, zone) === start) lo = mid;
    else hi = mid;
  }
  return hi;
}

// Milliseconds since the epoch of a wall clock read as if it were UTC. Built
// with setUTCFullYear because Date.UTC reads years 0-99 as 1900-1999.
export function wallClockToMs(wall: WallClock): number {
  const date = new Date(0);
  date.setUTCFullYear(wall.year, wall.month - 1, wall.day);
  date.setUTCHours(wall.hour, wall.minute, wall.second, wall.millisecond);
  return date.getTime();
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(name: string): Intl.DateTimeFormat {
  let formatter = formatters.get(name);
  if (formatter === undefined) {
    formatter = createFormatter(name);
    formatters.set(name, formatter);
  }
  return formatter;
}

// Numeric parts in a fixed locale, so formatToParts is easy to read back.
function createFormatter(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
}
