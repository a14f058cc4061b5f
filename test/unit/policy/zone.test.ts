import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatInstant, parseInstant } from '../../../src/policy/clock.js';
import { judgePolicies, parsePolicies } from '../../../src/policy/policy.js';
import type { Zone } from '../../../src/policy/zone.js';
import { LOCAL_ZONE, instantOfWallClock, offsetAt, parseZone, wallClockAt } from '../../../src/policy/zone.js';
import { at, useTimeZone } from '../../support/time-zone.js';

const HOUR = 3_600_000;
const PARIS: Zone = { name: 'Europe/Paris' };

describe('parseZone', () => {
  it('reads an IANA zone name', () => {
    expect(parseZone('America/New_York')).toEqual({ ok: true, value: { name: 'America/New_York' } });
  });

  it('keeps a zone name in its canonical spelling', () => {
    expect(parseZone('europe/paris')).toEqual({ ok: true, value: { name: 'Europe/Paris' } });
  });

  it('keeps a current zone name that ICU knows by an older alias', () => {
    expect(parseZone('Asia/Kolkata')).toEqual({ ok: true, value: { name: 'Asia/Kolkata' } });
  });

  it('reads UTC', () => {
    expect(parseZone('UTC')).toEqual({ ok: true, value: { name: 'UTC' } });
  });

  it.each(['Mars/Olympus_Mons', 'Europe/Pariss', '+02:00', ' Europe/Paris'])(
    "rejects '%s' with a message naming --tz and the value and giving an example",
    (name) => {
      const parsed = parseZone(name);
      expect(parsed.ok).toBe(false);
      if (parsed.ok) return;
      expect(parsed.error).toContain(`--tz '${name}'`);
      expect(parsed.error).toContain('Europe/Paris');
    },
  );

  it('rejects an empty name', () => {
    const parsed = parseZone('');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain("''");
  });
});

describe('LOCAL_ZONE', () => {
  it('has no name: it is whatever TZ or the system says', () => {
    expect(LOCAL_ZONE).toEqual({ name: null });
  });
});

// The first Intl formatter with a timeZone costs about 15 ms of start-up, so
// the local zone must get by with Date's local methods.
describe('the local zone on the hit path', () => {
  useTimeZone('Europe/Paris');

  const original = Intl.DateTimeFormat;
  let created = 0;
  beforeEach(() => {
    created = 0;
    Intl.DateTimeFormat = new Proxy(original, {
      construct(target, args: unknown[]) {
        created++;
        return Reflect.construct(target, args) as object;
      },
      apply(target, self, args: unknown[]) {
        created++;
        return Reflect.apply(target, self, args) as unknown;
      },
    });
  });
  afterEach(() => {
    Intl.DateTimeFormat = original;
  });

  it('parses, judges and formats without creating an Intl formatter', async () => {
    const specs = ['daily', 'daily@06:00', 'hourly', 'weekly', 'monthly', 'ttl:6h', 'forever'];
    const parsed = await parsePolicies(specs, LOCAL_ZONE);
    if (!parsed.ok) throw new Error(parsed.error);
    const now = parseInstant('2024-03-31T02:30:00', LOCAL_ZONE);
    if (!now.ok) throw new Error(now.error);
    const verdict = judgePolicies(parsed.value, at('2024-03-30T12:00:00+01:00'), now.value, LOCAL_ZONE);
    formatInstant(verdict.expiresAt ?? now.value, LOCAL_ZONE);
    expect(created).toBe(0);
  });
});

describe('offsetAt', () => {
  it('gives Paris summer time as two hours ahead of UTC', () => {
    expect(offsetAt(at('2024-08-27T12:00:00Z'), PARIS)).toBe(2 * HOUR);
  });

  it('gives New York winter time as five hours behind UTC', () => {
    expect(offsetAt(at('2024-01-15T12:00:00Z'), { name: 'America/New_York' })).toBe(-5 * HOUR);
  });

  it('gives Kathmandu five hours and three quarters ahead of UTC', () => {
    expect(offsetAt(at('2024-01-15T12:00:00Z'), { name: 'Asia/Kathmandu' })).toBe(5.75 * HOUR);
  });

  it('changes exactly at the transition instant', () => {
    const transition = at('2024-03-31T01:00:00Z');
    expect([offsetAt(transition - 1, PARIS), offsetAt(transition, PARIS)]).toEqual([HOUR, 2 * HOUR]);
  });
});

describe('wallClockAt', () => {
  it('reads the wall clock of a named zone with milliseconds', () => {
    expect(wallClockAt(at('2024-10-27T00:30:00.250Z'), PARIS)).toEqual({
      year: 2024,
      month: 10,
      day: 27,
      hour: 2,
      minute: 30,
      second: 0,
      millisecond: 250,
    });
  });

  it('reads midnight as hour 0', () => {
    expect(wallClockAt(at('2024-08-27T22:00:00Z'), PARIS)).toMatchObject({ day: 28, hour: 0 });
  });
});

describe('instantOfWallClock', () => {
  const wall = (day: number, hour: number, minute: number) => ({ year: 2024, month: 3, day, hour, minute, second: 0, millisecond: 0 });

  it("moves a skipped time forward by the gap under 'shift'", () => {
    expect(instantOfWallClock(wall(31, 2, 30), PARIS, 'shift')).toBe(at('2024-03-31T03:30:00+02:00'));
  });

  it("moves a skipped time to the end of the gap under 'next-valid'", () => {
    expect(instantOfWallClock(wall(31, 2, 30), PARIS, 'next-valid')).toBe(at('2024-03-31T03:00:00+02:00'));
  });

  it('reads a time just after the gap as itself', () => {
    expect(instantOfWallClock(wall(31, 3, 0), PARIS, 'next-valid')).toBe(at('2024-03-31T03:00:00+02:00'));
  });

  it('rolls a day past the end of the month over into the next month', () => {
    expect(instantOfWallClock(wall(32, 12, 0), PARIS, 'shift')).toBe(at('2024-04-01T12:00:00+02:00'));
  });
});
