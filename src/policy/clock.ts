import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import type { WallClock, Zone } from './zone.js';
import { findOffsetChange, instantOfWallClock, offsetAt, wallClockAt, wallClockToMs } from './zone.js';

export type { Zone } from './zone.js';
export { LOCAL_ZONE, parseZone } from './zone.js';

// Calendar arithmetic in a zone: DCACHE_NOW, the boundaries of days, hours,
// weeks and months, and the display of instants. Every function takes the
// zone as an argument; the local zone uses Date's local methods only.

const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

export const NOW_EXAMPLE = '2024-08-27T15:00:00, 2024-08-27T15:00:00Z or 2024-08-27T15:00:00+02:00';

// Parses DCACHE_NOW: with an offset it is an instant, without one a wall-clock
// time in `zone` (a date alone is midnight). A time skipped by a DST change
// moves forward by the gap and a repeated one is its first occurrence, as
// with Date.
export function parseInstant(text: string, zone: Zone): Result<number, string> {
  const m = ISO_PATTERN.exec(text.trim());
  if (!m) return fail(`'${text}' is not an ISO-8601 date-time; use for example ${NOW_EXAMPLE}`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', offset] = m;
  const wall: WallClock = {
    year: Number(y),
    month: Number(mo),
    day: Number(d),
    hour: Number(h),
    minute: Number(mi),
    second: Number(s),
    millisecond: Math.floor(Number(`0.${frac}`) * 1000),
  };
  // Years below 1000 are refused: nobody means them, and two-digit years are
  // a classic source of 1900-for-2000 mistakes.
  const inRange =
    wall.year >= 1000 &&
    wall.month >= 1 &&
    wall.month <= 12 &&
    wall.day >= 1 &&
    wall.day <= daysInMonth(wall.year, wall.month) &&
    wall.hour <= 23 &&
    wall.minute <= 59 &&
    wall.second <= 59 &&
    (offset === undefined || offsetMinutes(offset) !== null);
  if (!inRange) return fail(`'${text}' is not a valid date-time; use for example ${NOW_EXAMPLE}`);
  const instant = offset === undefined ? instantOfWallClock(wall, zone, 'shift') : wallClockToMs(wall) - (offsetMinutes(offset) ?? 0) * MINUTE;
  // Record times are stored as milliseconds since 1970, never negative.
  if (instant < 0) return fail(`'${text}' is before 1970-01-01T00:00:00Z; use a time from then on`);
  return ok(instant);
}

// Minutes east of UTC, or null for an offset that cannot be (+25:00, +05:99).
function offsetMinutes(offset: string): number | null {
  if (offset === 'Z' || offset === 'z') return 0;
  const sign = offset.startsWith('-') ? -1 : 1;
  const digits = offset.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2, 4) || '0');
  if (hours > 23 || minutes > 59) return null;
  return sign * (hours * 60 + minutes);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

// Calendar boundaries are wall-clock times (midnight, 06:00, Monday 00:00)
// resolved to instants. One that a DST change skips resolves to the first
// instant after the gap; one that occurs twice to its first occurrence.
function boundaryAt(year: number, month: number, day: number, minuteOfDay: number, zone: Zone): number {
  const wall = { year, month, day, hour: 0, minute: minuteOfDay, second: 0, millisecond: 0 };
  return instantOfWallClock(wall, zone, 'next-valid');
}

// The first instant of the day holding `instant`, where a day starts at
// `dayStart` minutes past midnight (0: midnight; 360: 06:00).
export function startOfDay(instant: number, zone: Zone, dayStart = 0): number {
  const { year, month, day } = wallClockAt(instant, zone);
  // The boundary on the same calendar date may still be ahead (05:59 when
  // days start at 06:00): step back a date until one is not.
  for (let n = 0; ; n--) {
    const boundary = boundaryAt(year, month, day + n, dayStart, zone);
    if (boundary <= instant) return boundary;
  }
}

// The first instant of the day after the one holding `instant`. Built from
// calendar dates, not by adding 24 hours, so 23- and 25-hour days (DST
// changes) end at their real boundary.
export function startOfNextDay(instant: number, zone: Zone, dayStart = 0): number {
  const { year, month, day } = wallClockAt(instant, zone);
  // Compared as instants, not wall times: after clocks fall back, 02:15 can
  // come after a 02:30 boundary of the same date.
  for (let n = 0; ; n++) {
    const boundary = boundaryAt(year, month, day + n, dayStart, zone);
    if (boundary > instant) return boundary;
  }
}

// The first instant of the hour after the one holding `instant`. An hour ends
// where the wall clock reaches the next hour mark or the UTC offset changes,
// whichever comes first: after clocks fall back from 03:00 to 02:00 the two
// 02:00 hours are two hours, not one; in zones offset by :30 or :45 hours are
// wall-clock hours.
export function startOfNextHour(instant: number, zone: Zone): number {
  const offset = offsetAt(instant, zone);
  const wall = instant + offset;
  const nextMark = wall - mod(wall, HOUR) + HOUR - offset;
  return findOffsetChange(instant, nextMark, zone);
}

// The first instant of the ISO week (Monday 00:00) after the one holding
// `instant`.
export function startOfNextWeek(instant: number, zone: Zone): number {
  const { year, month, day } = wallClockAt(instant, zone);
  const sinceMonday = (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7;
  for (let n = 0; ; n += 7) {
    const boundary = boundaryAt(year, month, day - sinceMonday + n, 0, zone);
    if (boundary > instant) return boundary;
  }
}

// The first instant of the calendar month after the one holding `instant`.
export function startOfNextMonth(instant: number, zone: Zone): number {
  const { year, month } = wallClockAt(instant, zone);
  for (let n = 0; ; n++) {
    const boundary = boundaryAt(year, month + n, 1, 0, zone);
    if (boundary > instant) return boundary;
  }
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

// 2024-08-28 00:00:00 +02:00, in `zone`: unambiguous and readable.
export function formatInstant(instant: number, zone: Zone): string {
  const offset = offsetAt(instant, zone);
  const t = new Date(instant + offset);
  const off = Math.round(offset / MINUTE);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return (
    `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ` +
    `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}
