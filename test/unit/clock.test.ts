import { describe, expect, it } from 'vitest';
import { formatInstant, parseInstant, startOfLocalDay, startOfNextLocalDay } from '../../src/clock.js';
import { at, useTimeZone } from './time-zone.js';

const HOUR = 3_600_000;

describe('parseInstant', () => {
  useTimeZone('Europe/Paris');

  it('reads a UTC time (Z) as that instant', () => {
    expect(parseInstant('2024-08-27T15:00:00Z')).toEqual({ ok: true, value: at('2024-08-27T15:00:00Z') });
  });

  it('reads a +02:00 offset as that instant', () => {
    expect(parseInstant('2024-08-27T15:00:00+02:00')).toEqual({ ok: true, value: at('2024-08-27T13:00:00Z') });
  });

  it('reads a -0500 offset without a colon as that instant', () => {
    expect(parseInstant('2024-08-27T15:00:00-0500')).toEqual({ ok: true, value: at('2024-08-27T20:00:00Z') });
  });

  it('keeps fractional seconds as milliseconds', () => {
    expect(parseInstant('2024-08-27T15:00:00.250Z')).toEqual({ ok: true, value: at('2024-08-27T15:00:00.250Z') });
  });

  it('reads a time without an offset as the wall clock of the process zone', () => {
    expect(parseInstant('2024-08-27T15:00:00')).toEqual({ ok: true, value: at('2024-08-27T15:00:00+02:00') });
  });

  it('reads a date alone as local midnight', () => {
    expect(parseInstant('2024-01-15')).toEqual({ ok: true, value: at('2024-01-15T00:00:00+01:00') });
  });

  it('accepts the 29th of February in a leap year', () => {
    expect(parseInstant('2024-02-29T12:00:00Z')).toEqual({ ok: true, value: at('2024-02-29T12:00:00Z') });
  });

  it.each([
    '2024-02-30',
    '2023-02-29T00:00:00',
    '2024-08-27T25:00',
    'next tuesday',
    '2024-01-01T00:00:00+05:99',
    '2024-01-01T00:00:00+25:00',
    '0050-01-01T00:00:00Z',
    '0099-06-01',
  ])(
    "rejects '%s' with a message naming the value",
    (text) => {
      const parsed = parseInstant(text);
      expect(parsed.ok).toBe(false);
      if (parsed.ok) return;
      expect(parsed.error).toContain(`'${text}'`);
    },
  );
});

describe('parseInstant in Asia/Tokyo', () => {
  useTimeZone('Asia/Tokyo');

  it('reads a time without an offset as Tokyo wall-clock time', () => {
    expect(parseInstant('2024-08-27T15:00:00')).toEqual({ ok: true, value: at('2024-08-27T06:00:00Z') });
  });
});

describe('local days in Europe/Paris', () => {
  useTimeZone('Europe/Paris');

  it('starts the day at local midnight', () => {
    expect(startOfLocalDay(at('2024-08-27T15:00:00+02:00'))).toBe(at('2024-08-27T00:00:00+02:00'));
  });

  it('gives the start of the following day for an instant exactly at midnight', () => {
    expect(startOfNextLocalDay(at('2024-08-27T00:00:00+02:00'))).toBe(at('2024-08-28T00:00:00+02:00'));
  });

  it('makes the day clocks spring forward 23 hours long', () => {
    const noon = at('2024-03-31T12:00:00+02:00');
    expect(startOfNextLocalDay(noon) - startOfLocalDay(noon)).toBe(23 * HOUR);
  });

  it('makes the day clocks fall back 25 hours long', () => {
    const noon = at('2024-10-27T12:00:00+01:00');
    expect(startOfNextLocalDay(noon) - startOfLocalDay(noon)).toBe(25 * HOUR);
  });
});

describe('formatInstant', () => {
  describe('in Europe/Paris', () => {
    useTimeZone('Europe/Paris');

    it('shows summer time with a +02:00 offset', () => {
      expect(formatInstant(at('2024-08-27T22:00:00Z'))).toBe('2024-08-28 00:00:00 +02:00');
    });

    it('shows winter time with a +01:00 offset', () => {
      expect(formatInstant(at('2024-01-05T08:07:06Z'))).toBe('2024-01-05 09:07:06 +01:00');
    });
  });

  describe('in America/St_Johns', () => {
    useTimeZone('America/St_Johns');

    it('shows a negative half-hour offset', () => {
      expect(formatInstant(at('2024-01-01T12:00:00Z'))).toBe('2024-01-01 08:30:00 -03:30');
    });
  });
});
