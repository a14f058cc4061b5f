import ms from 'ms';
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';

export const DURATION_EXAMPLES = '90s, 15m, 6h, 1h30m, 2d12h, 1w';
const MAX_DURATION_MS = 100 * 365.25 * 24 * 60 * 60 * 1000;

// A positive duration in milliseconds: a number and a unit, or several
// composed (1h30m, 2d12h, 1h 30m). `ms` reads each part; a bare number
// (which `ms` reads as milliseconds) is refused because nobody writing
// `ttl:30` means thirty milliseconds.
export function parseDuration(text: string): Result<number, string> {
  const trimmed = text.trim();
  const notOne = () => fail(`'${text}' is not a duration; use a number and a unit: ${DURATION_EXAMPLES}`);
  if (!/^(\d*\.?\d+\s*[a-z]+\s*)+$/i.test(trimmed)) return notOne();
  // An upper-case unit is refused rather than read as ms reads it (5M as
  // five minutes, where a reader may see five months).
  const upper = /(\d*\.?\d+)\s*([a-z]*[A-Z][a-zA-Z]*)/.exec(trimmed);
  if (upper !== null) {
    const months = upper[2] === 'M' ? ` (M could be minutes or months: write ${upper[1]}m for minutes, or a number of days, e.g. 30d)` : '';
    return fail(`'${text}': units are lower case: ms, s, m, h, d, w, y${months}`);
  }
  let value = 0;
  for (const part of trimmed.matchAll(/(\d*\.?\d+)\s*([a-z]+)/gi)) {
    const partMs = ms(`${part[1]}${part[2]}` as ms.StringValue);
    if (partMs === undefined || !Number.isFinite(partMs)) return notOne();
    value += partMs;
  }
  if (value > MAX_DURATION_MS) return fail(`'${text}' is longer than the longest duration dcache takes, 100y`);
  if (value < 1) {
    return fail(`'${text}' is not a positive duration; use for example ${DURATION_EXAMPLES}`);
  }
  return ok(value);
}

// A compact age for humans: 45s, 12m, 3h12m, 2d4h.
export function formatAge(milliseconds: number): string {
  const s = Math.max(0, Math.floor(milliseconds / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

// A length of time, rounded (not cut) to the last unit it shows: 0.4s,
// 12s, 2m5s, 1h30m, 2d12h. 1h59m59s is 2h, where formatAge says 1h59m.
export function formatSpan(milliseconds: number): string {
  const t = Math.max(0, milliseconds);
  if (t < 9950) return `${(t / 1000).toFixed(1).replace(/\.0$/, '')}s`;
  const s = Math.round(t / 1000);
  if (s < 60 * 60) return s < 60 ? `${s}s` : s % 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s / 60}m`;
  const m = Math.round(t / 60_000);
  if (m < 48 * 60) return m % 60 ? `${Math.floor(m / 60)}h${m % 60}m` : `${m / 60}h`;
  const h = Math.round(t / 3_600_000);
  return h % 24 ? `${Math.floor(h / 24)}d${h % 24}h` : `${h / 24}d`;
}
