import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/policy.js';
import { POLICY_HELP, judgePolicies, judgePolicy, parsePolicies, parsePolicy } from '../../src/policy.js';
import { at, useTimeZone } from './time-zone.js';

const HOUR = 3_600_000;
const daily: Policy = { kind: 'daily', spec: 'daily' };
const forever: Policy = { kind: 'forever', spec: 'forever' };
const ttl = (hours: number): Policy => ({ kind: 'ttl', spec: `ttl:${hours}h`, ms: hours * HOUR });

describe('parsePolicy', () => {
  it('reads daily', () => {
    expect(parsePolicy('daily')).toEqual({ ok: true, value: { kind: 'daily', spec: 'daily' } });
  });

  it('reads ttl:<duration> into milliseconds', () => {
    expect(parsePolicy('ttl:90m')).toEqual({ ok: true, value: { kind: 'ttl', spec: 'ttl:90m', ms: 90 * 60_000 } });
  });

  it('rejects an unknown spec with a message naming it and listing the valid specs', () => {
    const parsed = parsePolicy('weekly-ish');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain("'weekly-ish'");
    expect(parsed.error).toContain(POLICY_HELP);
  });

  it('rejects a ttl without a valid duration with a message naming the spec and giving examples', () => {
    const parsed = parsePolicy('ttl:30');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain("'ttl:30'");
    expect(parsed.error).toContain('6h');
  });
});

describe('parsePolicies', () => {
  it('defaults to daily when no spec is given', () => {
    expect(parsePolicies([])).toEqual({ ok: true, value: [{ kind: 'daily', spec: 'daily' }] });
  });

  it('keeps every given spec, in order', () => {
    const parsed = parsePolicies(['ttl:6h', 'daily']);
    expect(parsed.ok && parsed.value.map((p) => p.kind)).toEqual(['ttl', 'daily']);
  });

  it('fails on the first invalid spec, naming it', () => {
    const parsed = parsePolicies(['daily', 'hourly!', 'nope']);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain("'hourly!'");
  });
});

describe('judgePolicy daily, in Europe/Paris', () => {
  useTimeZone('Europe/Paris');

  const recorded = at('2024-08-27T09:00:00+02:00');

  it('keeps an entry fresh one second before local midnight', () => {
    expect(judgePolicy(daily, recorded, at('2024-08-27T23:59:59+02:00')).fresh).toBe(true);
  });

  it('makes an entry stale at local midnight', () => {
    expect(judgePolicy(daily, recorded, at('2024-08-28T00:00:00+02:00')).fresh).toBe(false);
  });

  it('lets an entry recorded one second before midnight expire at midnight', () => {
    const late = at('2024-08-27T23:59:59+02:00');
    expect(judgePolicy(daily, late, at('2024-08-28T00:00:00+02:00')).fresh).toBe(false);
  });

  it('keeps an entry recorded at 00:30 fresh until the real midnight of a 23-hour day', () => {
    const recordedAt = at('2024-03-31T00:30:00+01:00');
    expect(judgePolicy(daily, recordedAt, at('2024-03-31T23:59:59+02:00')).fresh).toBe(true);
  });

  it('makes an entry of the 23-hour day stale at the next local midnight', () => {
    const recordedAt = at('2024-03-31T00:30:00+01:00');
    expect(judgePolicy(daily, recordedAt, at('2024-04-01T00:00:00+02:00')).fresh).toBe(false);
  });

  it('expires an entry of the 23-hour day at the real next midnight', () => {
    const recordedAt = at('2024-03-31T00:30:00+01:00');
    expect(judgePolicy(daily, recordedAt, recordedAt).expiresAt).toBe(at('2024-04-01T00:00:00+02:00'));
  });

  it('keeps an entry recorded at 00:30 fresh until the real midnight of a 25-hour day', () => {
    const recordedAt = at('2024-10-27T00:30:00+02:00');
    expect(judgePolicy(daily, recordedAt, at('2024-10-27T23:59:59+01:00')).fresh).toBe(true);
  });

  it('makes an entry of the 25-hour day stale at the next local midnight', () => {
    const recordedAt = at('2024-10-27T00:30:00+02:00');
    expect(judgePolicy(daily, recordedAt, at('2024-10-28T00:00:00+01:00')).fresh).toBe(false);
  });

  it('expires an entry of the 25-hour day at the real next midnight', () => {
    const recordedAt = at('2024-10-27T00:30:00+02:00');
    expect(judgePolicy(daily, recordedAt, recordedAt).expiresAt).toBe(at('2024-10-28T00:00:00+01:00'));
  });

  it('treats an entry recorded after now as stale', () => {
    expect(judgePolicy(daily, recorded, recorded - 1).fresh).toBe(false);
  });
});

describe('judgePolicy daily, in Asia/Tokyo (east of UTC)', () => {
  useTimeZone('Asia/Tokyo');

  it('keeps an entry fresh across the UTC midnight that falls inside the local day', () => {
    // 08:00 and 10:00 in Tokyo are on either side of 00:00 UTC.
    expect(judgePolicy(daily, at('2024-08-28T08:00:00+09:00'), at('2024-08-28T10:00:00+09:00')).fresh).toBe(true);
  });

  it('makes an entry stale at Tokyo midnight', () => {
    expect(judgePolicy(daily, at('2024-08-28T08:00:00+09:00'), at('2024-08-29T00:00:00+09:00')).fresh).toBe(false);
  });
});

describe('judgePolicy daily, in America/New_York (west of UTC)', () => {
  useTimeZone('America/New_York');

  it('keeps an entry fresh across the UTC midnight that falls inside the local day', () => {
    // 19:00 and 21:00 in New York are on either side of 00:00 UTC.
    expect(judgePolicy(daily, at('2024-08-27T19:00:00-04:00'), at('2024-08-27T21:00:00-04:00')).fresh).toBe(true);
  });

  it('makes an entry stale at New York midnight', () => {
    expect(judgePolicy(daily, at('2024-08-27T19:00:00-04:00'), at('2024-08-28T00:00:00-04:00')).fresh).toBe(false);
  });
});

describe('judgePolicy ttl and forever', () => {
  const recordedAt = at('2024-08-27T12:00:00Z');

  it('keeps a ttl entry fresh one millisecond before its ttl has passed', () => {
    expect(judgePolicy(ttl(6), recordedAt, recordedAt + 6 * HOUR - 1).fresh).toBe(true);
  });

  it('makes a ttl entry stale exactly when its ttl has passed', () => {
    expect(judgePolicy(ttl(6), recordedAt, recordedAt + 6 * HOUR).fresh).toBe(false);
  });

  it('expires a ttl entry at its record time plus the ttl', () => {
    expect(judgePolicy(ttl(6), recordedAt, recordedAt).expiresAt).toBe(recordedAt + 6 * HOUR);
  });

  it('treats a ttl entry recorded after now as stale', () => {
    expect(judgePolicy(ttl(6), recordedAt, recordedAt - 1000).fresh).toBe(false);
  });

  it('keeps a forever entry fresh, with no expiry, even when recorded after now', () => {
    expect(judgePolicy(forever, recordedAt, recordedAt - 1000)).toEqual({ fresh: true, expiresAt: null });
  });
});

describe('judgePolicies', () => {
  useTimeZone('Europe/Paris');

  const recordedAt = at('2024-08-27T20:00:00+02:00');

  it('expires at the daily boundary when it comes before the ttl', () => {
    expect(judgePolicies([ttl(6), daily], recordedAt, recordedAt).expiresAt).toBe(at('2024-08-28T00:00:00+02:00'));
  });

  it('expires at the ttl when it comes before the daily boundary', () => {
    expect(judgePolicies([daily, ttl(1)], recordedAt, recordedAt).expiresAt).toBe(at('2024-08-27T21:00:00+02:00'));
  });

  it('is stale as soon as one policy is stale, even though the others are fresh', () => {
    expect(judgePolicies([daily, ttl(1), forever], recordedAt, at('2024-08-27T22:30:00+02:00')).fresh).toBe(false);
  });

  it('is fresh while every policy is fresh', () => {
    expect(judgePolicies([daily, ttl(3), forever], recordedAt, at('2024-08-27T22:30:00+02:00')).fresh).toBe(true);
  });
});
