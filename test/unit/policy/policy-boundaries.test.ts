import { describe, expect, it } from 'vitest';
import type { Policy } from '../../../src/policy/policy.js';
import { judgePolicy, parsePolicies } from '../../../src/policy/policy.js';
import type { Zone } from '../../../src/policy/zone.js';
import { LOCAL_ZONE } from '../../../src/policy/zone.js';
import { at, useTimeZone } from '../../support/time-zone.js';

// Every policy at its boundary: fresh one second before, stale at it and one
// second after, and that boundary reported as the expiry. Each case runs
// twice: in the process's own zone (TZ), and as a named zone while TZ is a
// zone on the other side of the world, which proves the zone argument decides.
interface BoundaryCase {
  spec: string;
  zone: string;
  recorded: string;
  boundary: string;
  // what makes the case interesting
  why: string;
}

const CASES: BoundaryCase[] = [
  // Europe/Paris: clocks spring forward 2024-03-31 02:00 → 03:00, fall back 2024-10-27 03:00 → 02:00.
  { spec: 'daily', zone: 'Europe/Paris', recorded: '2024-08-27T09:00:00+02:00', boundary: '2024-08-28T00:00:00+02:00', why: 'an ordinary day' },
  { spec: 'daily', zone: 'Europe/Paris', recorded: '2024-03-31T00:30:00+01:00', boundary: '2024-04-01T00:00:00+02:00', why: 'the 23-hour day clocks spring forward' },
  { spec: 'daily', zone: 'Europe/Paris', recorded: '2024-10-27T00:30:00+02:00', boundary: '2024-10-28T00:00:00+01:00', why: 'the 25-hour day clocks fall back' },
  { spec: 'daily@06:00', zone: 'Europe/Paris', recorded: '2024-08-27T05:59:00+02:00', boundary: '2024-08-27T06:00:00+02:00', why: 'recorded just before the day starts' },
  { spec: 'daily@06:00', zone: 'Europe/Paris', recorded: '2024-08-27T06:00:00+02:00', boundary: '2024-08-28T06:00:00+02:00', why: 'recorded as the day starts' },
  { spec: 'daily@06:00', zone: 'Europe/Paris', recorded: '2024-08-27T23:00:00+02:00', boundary: '2024-08-28T06:00:00+02:00', why: 'recorded before midnight' },
  { spec: 'daily@02:30', zone: 'Europe/Paris', recorded: '2024-03-30T12:00:00+01:00', boundary: '2024-03-31T03:00:00+02:00', why: '02:30 is skipped, so the day starts as the gap ends' },
  { spec: 'daily@02:30', zone: 'Europe/Paris', recorded: '2024-03-31T03:00:00+02:00', boundary: '2024-04-01T02:30:00+02:00', why: 'recorded as the gap ends' },
  { spec: 'daily@02:30', zone: 'Europe/Paris', recorded: '2024-10-26T12:00:00+02:00', boundary: '2024-10-27T02:30:00+02:00', why: '02:30 happens twice and the first one counts' },
  { spec: 'daily@02:30', zone: 'Europe/Paris', recorded: '2024-10-27T02:15:00+01:00', boundary: '2024-10-28T02:30:00+01:00', why: 'recorded at the second 02:15, after the first 02:30' },
  { spec: 'hourly', zone: 'Europe/Paris', recorded: '2024-08-27T14:00:00+02:00', boundary: '2024-08-27T15:00:00+02:00', why: 'an ordinary hour' },
  { spec: 'hourly', zone: 'Europe/Paris', recorded: '2024-03-31T01:30:00+01:00', boundary: '2024-03-31T03:00:00+02:00', why: 'the hour before clocks spring forward' },
  { spec: 'hourly', zone: 'Europe/Paris', recorded: '2024-10-27T02:30:00+02:00', boundary: '2024-10-27T02:00:00+01:00', why: 'the first of the two 02:00 hours' },
  { spec: 'hourly', zone: 'Europe/Paris', recorded: '2024-10-27T02:30:00+01:00', boundary: '2024-10-27T03:00:00+01:00', why: 'the second of the two 02:00 hours' },
  { spec: 'weekly', zone: 'Europe/Paris', recorded: '2024-08-27T09:00:00+02:00', boundary: '2024-09-02T00:00:00+02:00', why: 'a Tuesday' },
  { spec: 'weekly', zone: 'Europe/Paris', recorded: '2024-09-01T23:00:00+02:00', boundary: '2024-09-02T00:00:00+02:00', why: 'a Sunday night' },
  { spec: 'weekly', zone: 'Europe/Paris', recorded: '2024-03-27T12:00:00+01:00', boundary: '2024-04-01T00:00:00+02:00', why: 'the week clocks spring forward' },
  { spec: 'weekly', zone: 'Europe/Paris', recorded: '2024-10-23T12:00:00+02:00', boundary: '2024-10-28T00:00:00+01:00', why: 'the week clocks fall back' },
  { spec: 'weekly', zone: 'Europe/Paris', recorded: '2024-12-31T12:00:00+01:00', boundary: '2025-01-06T00:00:00+01:00', why: 'ISO week 1 of 2025, which starts in 2024' },
  { spec: 'monthly', zone: 'Europe/Paris', recorded: '2024-03-15T12:00:00+01:00', boundary: '2024-04-01T00:00:00+02:00', why: 'the month clocks spring forward' },
  { spec: 'monthly', zone: 'Europe/Paris', recorded: '2024-10-15T12:00:00+02:00', boundary: '2024-11-01T00:00:00+01:00', why: 'the month clocks fall back' },
  { spec: 'monthly', zone: 'Europe/Paris', recorded: '2024-12-31T23:00:00+01:00', boundary: '2025-01-01T00:00:00+01:00', why: 'the last hour of the year' },
  { spec: 'monthly', zone: 'Europe/Paris', recorded: '2024-02-29T12:00:00+01:00', boundary: '2024-03-01T00:00:00+01:00', why: 'a leap day' },
  { spec: 'cron:0 6 * * 1-5', zone: 'Europe/Paris', recorded: '2024-08-30T07:00:00+02:00', boundary: '2024-09-02T06:00:00+02:00', why: 'a Friday after the last weekday tick' },
  { spec: 'cron:0 6 * * *', zone: 'Europe/Paris', recorded: '2024-08-27T06:00:00+02:00', boundary: '2024-08-28T06:00:00+02:00', why: 'recorded on a tick, which does not count' },
  { spec: 'cron:0 6 * * *', zone: 'Europe/Paris', recorded: '2024-08-27T05:58:59.500+02:00', boundary: '2024-08-27T06:00:00+02:00', why: 'recorded at a fraction of a second' },
  { spec: 'cron:30 2 * * *', zone: 'Europe/Paris', recorded: '2024-03-30T12:00:00+01:00', boundary: '2024-03-31T03:00:00+02:00', why: 'a skipped 02:30 ticks as the gap ends' },
  { spec: 'cron:30 2,14 * * *', zone: 'Europe/Paris', recorded: '2024-03-30T15:00:00+01:00', boundary: '2024-03-31T03:00:00+02:00', why: 'a list of fixed times ticks as the gap ends too' },
  { spec: 'cron:30 2 * * *', zone: 'Europe/Paris', recorded: '2024-10-27T02:45:00+02:00', boundary: '2024-10-28T02:30:00+01:00', why: 'a repeated 02:30 ticks once' },
  { spec: 'cron:*/30 * * * *', zone: 'Europe/Paris', recorded: '2024-10-27T02:40:00+02:00', boundary: '2024-10-27T02:00:00+01:00', why: 'a step schedule ticks in both 02:00 hours' },
  { spec: 'ttl:6h', zone: 'Europe/Paris', recorded: '2024-03-31T00:00:00+01:00', boundary: '2024-03-31T07:00:00+02:00', why: 'six real hours across the gap' },
  // America/New_York: clocks spring forward 2024-03-10 02:00 → 03:00, fall back 2024-11-03 02:00 → 01:00.
  { spec: 'daily', zone: 'America/New_York', recorded: '2024-08-27T19:00:00-04:00', boundary: '2024-08-28T00:00:00-04:00', why: 'a day that holds a UTC midnight' },
  { spec: 'daily', zone: 'America/New_York', recorded: '2024-03-10T00:30:00-05:00', boundary: '2024-03-11T00:00:00-04:00', why: 'the 23-hour day clocks spring forward' },
  { spec: 'daily', zone: 'America/New_York', recorded: '2024-11-03T00:30:00-04:00', boundary: '2024-11-04T00:00:00-05:00', why: 'the 25-hour day clocks fall back' },
  { spec: 'daily@06:00', zone: 'America/New_York', recorded: '2024-11-03T05:59:00-05:00', boundary: '2024-11-03T06:00:00-05:00', why: 'recorded just before the day starts, on the 25-hour day' },
  { spec: 'daily@06:00', zone: 'America/New_York', recorded: '2024-11-03T06:00:00-05:00', boundary: '2024-11-04T06:00:00-05:00', why: 'recorded as the day starts, on the 25-hour day' },
  { spec: 'daily@02:30', zone: 'America/New_York', recorded: '2024-03-09T12:00:00-05:00', boundary: '2024-03-10T03:00:00-04:00', why: '02:30 is skipped, so the day starts as the gap ends' },
  { spec: 'daily@01:30', zone: 'America/New_York', recorded: '2024-11-02T12:00:00-04:00', boundary: '2024-11-03T01:30:00-04:00', why: '01:30 happens twice and the first one counts' },
  { spec: 'daily@01:30', zone: 'America/New_York', recorded: '2024-11-03T01:15:00-05:00', boundary: '2024-11-04T01:30:00-05:00', why: 'recorded at the second 01:15, after the first 01:30' },
  { spec: 'hourly', zone: 'America/New_York', recorded: '2024-03-10T01:30:00-05:00', boundary: '2024-03-10T03:00:00-04:00', why: 'the hour before clocks spring forward' },
  { spec: 'hourly', zone: 'America/New_York', recorded: '2024-11-03T01:30:00-04:00', boundary: '2024-11-03T01:00:00-05:00', why: 'the first of the two 01:00 hours' },
  { spec: 'hourly', zone: 'America/New_York', recorded: '2024-11-03T01:30:00-05:00', boundary: '2024-11-03T02:00:00-05:00', why: 'the second of the two 01:00 hours' },
  { spec: 'weekly', zone: 'America/New_York', recorded: '2024-03-06T12:00:00-05:00', boundary: '2024-03-11T00:00:00-04:00', why: 'the week clocks spring forward' },
  { spec: 'weekly', zone: 'America/New_York', recorded: '2024-09-01T21:00:00-04:00', boundary: '2024-09-02T00:00:00-04:00', why: 'a Sunday evening that is already Monday in UTC' },
  { spec: 'monthly', zone: 'America/New_York', recorded: '2024-11-15T12:00:00-05:00', boundary: '2024-12-01T00:00:00-05:00', why: 'the month clocks fall back' },
  { spec: 'monthly', zone: 'America/New_York', recorded: '2024-08-31T22:00:00-04:00', boundary: '2024-09-01T00:00:00-04:00', why: 'a last evening that is already the next month in UTC' },
  { spec: 'cron:0 9 * * 1', zone: 'America/New_York', recorded: '2024-03-04T10:00:00-05:00', boundary: '2024-03-11T09:00:00-04:00', why: 'a weekly tick across the spring change' },
  { spec: 'cron:30 2 * * *', zone: 'America/New_York', recorded: '2024-03-09T12:00:00-05:00', boundary: '2024-03-10T03:00:00-04:00', why: 'a skipped 02:30 ticks as the gap ends' },
  // Asia/Tokyo: UTC+9, no DST, so local days, weeks and months begin while UTC is still on the previous one.
  { spec: 'daily', zone: 'Asia/Tokyo', recorded: '2024-08-28T08:00:00+09:00', boundary: '2024-08-29T00:00:00+09:00', why: 'a day that holds a UTC midnight' },
  { spec: 'daily@06:00', zone: 'Asia/Tokyo', recorded: '2024-08-28T05:59:00+09:00', boundary: '2024-08-28T06:00:00+09:00', why: 'recorded just before the day starts' },
  { spec: 'daily@06:00', zone: 'Asia/Tokyo', recorded: '2024-08-28T06:00:00+09:00', boundary: '2024-08-29T06:00:00+09:00', why: 'recorded as the day starts' },
  { spec: 'hourly', zone: 'Asia/Tokyo', recorded: '2024-08-28T08:15:00+09:00', boundary: '2024-08-28T09:00:00+09:00', why: 'an ordinary hour' },
  { spec: 'weekly', zone: 'Asia/Tokyo', recorded: '2024-08-28T12:00:00+09:00', boundary: '2024-09-02T00:00:00+09:00', why: 'a Wednesday' },
  { spec: 'weekly', zone: 'Asia/Tokyo', recorded: '2024-09-02T03:00:00+09:00', boundary: '2024-09-09T00:00:00+09:00', why: 'a Monday morning that is still Sunday in UTC' },
  { spec: 'monthly', zone: 'Asia/Tokyo', recorded: '2024-09-01T05:00:00+09:00', boundary: '2024-10-01T00:00:00+09:00', why: 'a first morning that is still the previous month in UTC' },
  { spec: 'cron:0 0 1 * *', zone: 'Asia/Tokyo', recorded: '2024-08-31T23:30:00+09:00', boundary: '2024-09-01T00:00:00+09:00', why: 'a monthly tick at local midnight' },
  // Zones a half or three quarters of an hour off UTC: hours are wall-clock hours.
  { spec: 'hourly', zone: 'Asia/Kolkata', recorded: '2024-08-28T10:45:00+05:30', boundary: '2024-08-28T11:00:00+05:30', why: 'a zone at UTC+05:30' },
  { spec: 'hourly', zone: 'Asia/Kathmandu', recorded: '2024-08-28T10:50:00+05:45', boundary: '2024-08-28T11:00:00+05:45', why: 'a zone at UTC+05:45' },
  { spec: 'daily', zone: 'Asia/Kolkata', recorded: '2024-08-28T23:00:00+05:30', boundary: '2024-08-29T00:00:00+05:30', why: 'a zone at UTC+05:30' },
];

const SECOND = 1000;

async function parseOne(spec: string, zone: Zone): Promise<Policy> {
  const parsed = await parsePolicies([spec], zone);
  if (!parsed.ok) throw new Error(parsed.error);
  const [policy] = parsed.value;
  if (policy === undefined) throw new Error(`no policy for ${spec}`);
  return policy;
}

function describeBoundary(c: BoundaryCase, zone: Zone): void {
  const recordedAt = at(c.recorded);
  const boundary = at(c.boundary);

  it(`is fresh one second before ${c.boundary}`, async () => {
    expect(judgePolicy(await parseOne(c.spec, zone), recordedAt, boundary - SECOND, zone).fresh).toBe(true);
  });

  it(`is stale at ${c.boundary}`, async () => {
    expect(judgePolicy(await parseOne(c.spec, zone), recordedAt, boundary, zone).fresh).toBe(false);
  });

  it(`is stale one second after ${c.boundary}`, async () => {
    expect(judgePolicy(await parseOne(c.spec, zone), recordedAt, boundary + SECOND, zone).fresh).toBe(false);
  });

  it(`expires at ${c.boundary}`, async () => {
    expect(judgePolicy(await parseOne(c.spec, zone), recordedAt, recordedAt, zone).expiresAt).toBe(boundary);
  });
}

for (const c of CASES) {
  const elsewhere = c.zone === 'Asia/Tokyo' ? 'America/New_York' : 'Asia/Tokyo';

  describe(`${c.spec} in ${c.zone}, recorded ${c.recorded} (${c.why})`, () => {
    describe(`as the local zone (TZ=${c.zone})`, () => {
      useTimeZone(c.zone);
      describeBoundary(c, LOCAL_ZONE);
    });

    describe(`as a named zone while TZ=${elsewhere}`, () => {
      useTimeZone(elsewhere);
      describeBoundary(c, { name: c.zone });
    });
  });
}
