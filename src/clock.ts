import type { Result } from './errors.js';
import { fail, ok } from './errors.js';

// Local wall-clock arithmetic uses the process's zone (TZ or the system zone)
// through Date's local methods, which follow DST rules and are cheap: no
// Intl formatter is created on the hit path.

const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

export const NOW_EXAMPLE = '2024-08-27T15:00:00, 2024-08-27T15:00:00Z or 2024-08-27T15:00:00+02:00';

// Parses DCACHE_NOW: with an offset it is an instant, without one a local
// wall-clock time (a date alone is local midnight).
export function parseInstant(text: string): Result<number, string> {
  const m = ISO_PATTERN.exec(text.trim());
  if (!m) return fail(`'${text}' is not an ISO-8601 date-time; use for example ${NOW_EXAMPLE}`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', offset] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const millis = Math.floor(Number(`0.${frac}`) * 1000);
  // Years below 1000 are refused: Date would read 0-99 as 1900-1999.
  const inRange =
    year >= 1000 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    (offset === undefined || offsetMinutes(offset) !== null);
  if (!inRange) return fail(`'${text}' is not a valid date-time; use for example ${NOW_EXAMPLE}`);
  if (offset === undefined) {
    return ok(new Date(year, month - 1, day, hour, minute, second, millis).getTime());
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  return ok(utc - (offsetMinutes(offset) ?? 0) * 60_000);
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

// The first instant of the local calendar day holding `instant`.
export function startOfLocalDay(instant: number): number {
  const t = new Date(instant);
  return new Date(t.getFullYear(), t.getMonth(), t.getDate()).getTime();
}

// The first instant of the local calendar day after the one holding `instant`.
// Built from the calendar date, not by adding 24 hours, so 23- and 25-hour
// days (DST changes) end at their real midnight.
export function startOfNextLocalDay(instant: number): number {
  const t = new Date(instant);
  return new Date(t.getFullYear(), t.getMonth(), t.getDate() + 1).getTime();
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

// 2024-08-28 00:00:00 +02:00, in the local zone: unambiguous and readable.
export function formatInstant(instant: number): string {
  const t = new Date(instant);
  const off = -t.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return (
    `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ` +
    `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}
