import { describe, expect, it } from 'vitest';
import { formatAge, formatSpan, parseDuration } from '../../../src/policy/duration.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['6h', 21_600_000],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
    ['1.5h', 5_400_000],
    ['1h30m', 5_400_000],
    ['2d12h', 216_000_000],
    ['1h 30m', 5_400_000],
    ['1w2d', 777_600_000],
  ])('reads %s as %i milliseconds', (text, expected) => {
    expect(parseDuration(text)).toEqual({ ok: true, value: expected });
  });

  it.each(['', '5', '5x', '-1h', '0s', 'abc', '0.0001s', '1h30', '1h-30m', 'h30m', '1h30x'])("rejects '%s' with a message naming the value", (text) => {
    const parsed = parseDuration(text);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain(`'${text}'`);
  });

  it('refuses an upper-case M, which could be months, naming the units it takes', () => {
    expect(parseDuration('5M')).toEqual({
      ok: false,
      error: "'5M': units are lower case: ms, s, m, h, d, w, y (M could be minutes or months: write 5m for minutes, or a number of days, e.g. 30d)",
    });
  });

  it.each(['6H', '2D', '90Sec'])("refuses the upper-case unit of '%s'", (text) => {
    expect(parseDuration(text)).toEqual({ ok: false, error: `'${text}': units are lower case: ms, s, m, h, d, w, y` });
  });

  it('says what a duration looks like when the unit is missing', () => {
    const parsed = parseDuration('30');
    expect(parsed.ok ? '' : parsed.error).toContain('90s, 15m, 6h, 1h30m, 2d12h, 1w');
  });
});

describe('formatAge', () => {
  it('shows whole seconds under a minute, rounding down', () => {
    expect(formatAge(59_999)).toBe('59s');
  });

  it('shows whole minutes under an hour', () => {
    expect(formatAge(12 * 60_000 + 30_000)).toBe('12m');
  });

  it('shows hours and minutes under two days', () => {
    expect(formatAge(47 * 3_600_000 + 59 * 60_000)).toBe('47h59m');
  });

  it('shows days and hours from two days on', () => {
    expect(formatAge(2 * 86_400_000 + 4 * 3_600_000 + 59 * 60_000)).toBe('2d4h');
  });

  it('shows a negative age (a clock set back) as 0s', () => {
    expect(formatAge(-5_000)).toBe('0s');
  });
});

describe('formatSpan', () => {
  it('shows tenths of a second under ten seconds', () => {
    expect(formatSpan(0)).toBe('0s');
    expect(formatSpan(400)).toBe('0.4s');
    expect(formatSpan(1_000)).toBe('1s');
    expect(formatSpan(9_949)).toBe('9.9s');
  });

  it('rounds to the last unit it shows, where formatAge cuts', () => {
    expect(formatSpan(59_600)).toBe('1m');
    expect(formatSpan(125_400)).toBe('2m5s');
    expect(formatSpan(59 * 60_000 + 59_600)).toBe('1h');
    expect(formatSpan(3_600_000 + 59 * 60_000 + 59_000)).toBe('2h');
    expect(formatAge(3_600_000 + 59 * 60_000 + 59_000)).toBe('1h59m');
    expect(formatSpan(90 * 60_000 + 29_000)).toBe('1h30m');
    expect(formatSpan(47 * 3_600_000 + 59 * 60_000 + 40_000)).toBe('2d');
    expect(formatSpan(2 * 86_400_000 + 11 * 3_600_000 + 40 * 60_000)).toBe('2d12h');
  });

  it('shows a negative span as 0s', () => {
    expect(formatSpan(-5_000)).toBe('0s');
  });
});
