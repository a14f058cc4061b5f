import { describe, expect, it } from 'vitest';
import {
  LOCAL_ZONE,
  formatInstant,
  parseInstant,
  startOfDay,
  startOfNextDay,
  startOfNextHour,
  startOfNextMonth,
  startOfNextWeek,
} from '../../../src/policy/clock.js';
import type { Zone } from '../../../src/policy/clock.js';
import { at, useTimeZone } from '../../support/time-zone.js';

const HOUR = 3_600_000;
const PARIS: Zone = { name: 'Europe/Paris' };
const NEW_YORK: Zone = { name: 'America/New_York' };

describe('parseInstant', () => {
  useTimeZone('Europe/Paris');

  it('reads a UTC time (Z) as that instant', () => {
    expect(parseInstant('2024-08-27T15:00:00Z', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-08-27T15:00:00Z') });
  });

  it('reads a +02:00 offset as that instant', () => {
    expect(parseInstant('2024-08-27T15:00:00+02:00', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-08-27T13:00:00Z') });
  });

  it('reads a -0500 offset without a colon as that instant', () => {
    expect(parseInstant('2024-08-27T15:00:00-0500', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-08-27T20:00:00Z') });
  });

  it('reads an instant with an offset the same whatever the zone', () => {
    expect(parseInstant('2024-08-27T15:00:00+02:00', NEW_YORK)).toEqual({ ok: true, value: at('2024-08-27T13:00:00Z') });
  });

  it('keeps fractional seconds as milliseconds', () => {
    expect(parseInstant('2024-08-27T15:00:00.250Z', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-08-27T15:00:00.250Z') });
  });

  it('reads a time without an offset as the wall clock of the process zone', () => {
    expect(parseInstant('2024-08-27T15:00:00', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-08-27T15:00:00+02:00') });
  });

  it('reads a date alone as local midnight', () => {
    expect(parseInstant('2024-01-15', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-01-15T00:00:00+01:00') });
  });

  it('accepts the 29th of February in a leap year', () => {
    expect(parseInstant('2024-02-29T12:00:00Z', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-02-29T12:00:00Z') });
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
  ])("rejects '%s' with a message naming the value", (text) => {
    const parsed = parseInstant(text, LOCAL_ZONE);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain(`'${text}'`);
  });
});

describe('parseInstant in Asia/Tokyo', () => {
  useTimeZone('Asia/Tokyo');

  it('reads a time without an offset as Tokyo wall-clock time', () => {
    expect(parseInstant('2024-08-27T15:00:00', LOCAL_ZONE)).toEqual({ ok: true, value: at('2024-08-27T06:00:00Z') });
  });

  it('reads a time without an offset as New York wall-clock time when given that zone', () => {
    expect(parseInstant('2024-08-27T15:00:00', NEW_YORK)).toEqual({ ok: true, value: at('2024-08-27T15:00:00-04:00') });
  });

  it('reads a date alone as midnight in the zone given', () => {
    expect(parseInstant('2024-01-15', PARIS)).toEqual({ ok: true, value: at('2024-01-15T00:00:00+01:00') });
  });
});

// A wall-clock time that a DST change skips moves forward by the gap, as with
// Date; one that happens twice is its first occurrence. The same in the
// process's zone and in a named zone.
describe.each([
  { label: 'the local zone (TZ=Europe/Paris)', tz: 'Europe/Paris', zone: LOCAL_ZONE },
  { label: 'Europe/Paris named, while TZ=Asia/Tokyo', tz: 'Asia/Tokyo', zone: PARIS },
])('parseInstant across DST changes in $label', ({ tz, zone }) => {
  useTimeZone(tz);

  it('moves 02:30 on the night clocks spring forward to 03:30 summer time', () => {
    expect(parseInstant('2024-03-31T02:30:00', zone)).toEqual({ ok: true, value: at('2024-03-31T03:30:00+02:00') });
  });

  it('reads 02:30 on the night clocks fall back as the first, summer-time 02:30', () => {
    expect(parseInstant('2024-10-27T02:30:00', zone)).toEqual({ ok: true, value: at('2024-10-27T02:30:00+02:00') });
  });
});

describe.each([
  { label: 'the local zone (TZ=America/New_York)', tz: 'America/New_York', zone: LOCAL_ZONE },
  { label: 'America/New_York named, while TZ=Asia/Tokyo', tz: 'Asia/Tokyo', zone: NEW_YORK },
])('parseInstant across DST changes in $label', ({ tz, zone }) => {
  useTimeZone(tz);

  it('moves 02:30 on the night clocks spring forward to 03:30 daylight time', () => {
    expect(parseInstant('2024-03-10T02:30:00', zone)).toEqual({ ok: true, value: at('2024-03-10T03:30:00-04:00') });
  });

  it('reads 01:30 on the night clocks fall back as the first, daylight-time 01:30', () => {
    expect(parseInstant('2024-11-03T01:30:00', zone)).toEqual({ ok: true, value: at('2024-11-03T01:30:00-04:00') });
  });
});

describe.each([
  { label: 'in the local zone (TZ=Europe/Paris)', tz: 'Europe/Paris', zone: LOCAL_ZONE },
  { label: 'in Europe/Paris named, while TZ=Asia/Tokyo', tz: 'Asia/Tokyo', zone: PARIS },
])('calendar boundaries $label', ({ tz, zone }) => {
  useTimeZone(tz);

  it('starts the day at midnight', () => {
    expect(startOfDay(at('2024-08-27T15:00:00+02:00'), zone)).toBe(at('2024-08-27T00:00:00+02:00'));
  });

  it('gives the start of the following day for an instant exactly at midnight', () => {
    expect(startOfNextDay(at('2024-08-27T00:00:00+02:00'), zone)).toBe(at('2024-08-28T00:00:00+02:00'));
  });

  it('makes the day clocks spring forward 23 hours long', () => {
    const noon = at('2024-03-31T12:00:00+02:00');
    expect(startOfNextDay(noon, zone) - startOfDay(noon, zone)).toBe(23 * HOUR);
  });

  it('makes the day clocks fall back 25 hours long', () => {
    const noon = at('2024-10-27T12:00:00+01:00');
    expect(startOfNextDay(noon, zone) - startOfDay(noon, zone)).toBe(25 * HOUR);
  });

  it('starts a day that begins at 06:00 on the previous date before 06:00', () => {
    expect(startOfDay(at('2024-08-27T05:59:00+02:00'), zone, 6 * 60)).toBe(at('2024-08-26T06:00:00+02:00'));
  });

  it('starts a day that begins at 02:30 as the gap ends when 02:30 is skipped', () => {
    expect(startOfDay(at('2024-03-31T12:00:00+02:00'), zone, 150)).toBe(at('2024-03-31T03:00:00+02:00'));
  });

  it('makes the hour before clocks spring forward end at 03:00', () => {
    expect(startOfNextHour(at('2024-03-31T01:59:59+01:00'), zone)).toBe(at('2024-03-31T03:00:00+02:00'));
  });

  it('ends the first 02:00 hour when clocks fall back, not an hour of wall-clock time later', () => {
    expect(startOfNextHour(at('2024-10-27T02:00:00+02:00'), zone)).toBe(at('2024-10-27T02:00:00+01:00'));
  });

  it('starts the next ISO week on Monday at midnight', () => {
    expect(startOfNextWeek(at('2024-09-01T12:00:00+02:00'), zone)).toBe(at('2024-09-02T00:00:00+02:00'));
  });

  it('starts the next week a week later for an instant exactly at Monday midnight', () => {
    expect(startOfNextWeek(at('2024-09-02T00:00:00+02:00'), zone)).toBe(at('2024-09-09T00:00:00+02:00'));
  });

  it('starts the next month on the first at midnight, in winter time after clocks fall back', () => {
    expect(startOfNextMonth(at('2024-10-31T23:59:59+01:00'), zone)).toBe(at('2024-11-01T00:00:00+01:00'));
  });
});

describe('calendar boundaries in a zone that skipped a whole day', () => {
  // Samoa moved across the date line: 2011-12-29 was followed by 2011-12-31.
  const APIA: Zone = { name: 'Pacific/Apia' };

  it('starts the day after 2011-12-29 at midnight on the 31st', () => {
    expect(startOfNextDay(at('2011-12-29T12:00:00-10:00'), APIA)).toBe(at('2011-12-31T00:00:00+14:00'));
  });
});

describe('formatInstant', () => {
  describe('in Europe/Paris', () => {
    useTimeZone('Europe/Paris');

    it('shows summer time with a +02:00 offset', () => {
      expect(formatInstant(at('2024-08-27T22:00:00Z'), LOCAL_ZONE)).toBe('2024-08-28 00:00:00 +02:00');
    });

    it('shows winter time with a +01:00 offset', () => {
      expect(formatInstant(at('2024-01-05T08:07:06Z'), LOCAL_ZONE)).toBe('2024-01-05 09:07:06 +01:00');
    });
  });

  describe('in America/St_Johns', () => {
    useTimeZone('America/St_Johns');

    it('shows a negative half-hour offset', () => {
      expect(formatInstant(at('2024-01-01T12:00:00Z'), LOCAL_ZONE)).toBe('2024-01-01 08:30:00 -03:30');
    });
  });

  describe('with a named zone, while TZ=Asia/Tokyo', () => {
    useTimeZone('Asia/Tokyo');

    it('shows New York daylight time with a -04:00 offset', () => {
      expect(formatInstant(at('2024-08-27T22:00:00Z'), NEW_YORK)).toBe('2024-08-27 18:00:00 -04:00');
    });

    it('shows the first 02:30 of the night Paris falls back with +02:00', () => {
      expect(formatInstant(at('2024-10-27T00:30:00Z'), PARIS)).toBe('2024-10-27 02:30:00 +02:00');
    });

    it('shows the second 02:30 of the night Paris falls back with +01:00', () => {
      expect(formatInstant(at('2024-10-27T01:30:00Z'), PARIS)).toBe('2024-10-27 02:30:00 +01:00');
    });

    it('shows a quarter-hour offset', () => {
      expect(formatInstant(at('2024-01-01T12:00:00Z'), { name: 'Asia/Kathmandu' })).toBe('2024-01-01 17:45:00 +05:45');
    });

    it('shows UTC with a +00:00 offset', () => {
      expect(formatInstant(at('2024-01-01T12:00:00Z'), { name: 'UTC' })).toBe('2024-01-01 12:00:00 +00:00');
    });
  });
});
