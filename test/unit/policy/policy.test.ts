import { describe, expect, it } from 'vitest';
import type { Policy } from '../../../src/policy/policy.js';
import { POLICY_HELP, judgePolicies, judgePolicy, parsePolicies } from '../../../src/policy/policy.js';
import type { Zone } from '../../../src/policy/zone.js';
import { LOCAL_ZONE } from '../../../src/policy/zone.js';
import { at, useTimeZone } from '../../support/time-zone.js';

const HOUR = 3_600_000;
const PARIS: Zone = { name: 'Europe/Paris' };
const daily: Policy = { kind: 'daily', spec: 'daily' };
const hourly: Policy = { kind: 'hourly', spec: 'hourly' };
const forever: Policy = { kind: 'forever', spec: 'forever' };
const ttl = (hours: number): Policy => ({ kind: 'ttl', spec: `ttl:${hours}h`, ms: hours * HOUR });

async function parseOne(spec: string, zone: Zone = LOCAL_ZONE): Promise<Policy> {
  const parsed = await parsePolicies([spec], zone);
  if (!parsed.ok) throw new Error(parsed.error);
  const [policy] = parsed.value;
  if (policy === undefined) throw new Error(`no policy for ${spec}`);
  return policy;
}

async function parseError(spec: string, zone: Zone = LOCAL_ZONE): Promise<string> {
  const parsed = await parsePolicies([spec], zone);
  if (parsed.ok) throw new Error(`'${spec}' was accepted`);
  return parsed.error;
}

describe('parsePolicies', () => {
  it('defaults to daily when no spec is given', async () => {
    expect(await parsePolicies([], LOCAL_ZONE)).toEqual({ ok: true, value: [{ kind: 'daily', spec: 'daily' }] });
  });

  it('keeps every given spec, in order', async () => {
    const parsed = await parsePolicies(['ttl:6h', 'daily', 'cron:0 6 * * *', 'weekly'], LOCAL_ZONE);
    expect(parsed.ok && parsed.value.map((p) => p.kind)).toEqual(['ttl', 'daily', 'cron', 'weekly']);
  });

  it('fails on the first invalid spec, naming it', async () => {
    const parsed = await parsePolicies(['daily', 'hourly!', 'nope'], LOCAL_ZONE);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain("'hourly!'");
  });

  it('rejects an unknown spec with a message naming it and listing the valid specs', async () => {
    const error = await parseError('weekly-ish');
    expect(error).toContain("'weekly-ish'");
    expect(error).toContain(POLICY_HELP);
  });

  it.each([
    ['6h', 'ttl:6h'],
    ['1h30m', 'ttl:1h30m'],
    ['dayly', 'daily'],
    ['hourlyy', 'hourly'],
    ['Weekly', 'weekly'],
    ['forevr', 'forever'],
  ])("suggests what '%s' may mean: %s", async (spec, meant) => {
    expect(await parseError(spec)).toContain(`is not a policy (did you mean ${meant}?); use `);
  });

  it('suggests nothing for a spec near no policy', async () => {
    expect(await parseError('sometimes')).toBe(`--policy 'sometimes' is not a policy; use ${POLICY_HELP}`);
  });

  it('says to quote a cron spec that the shell split at its spaces', async () => {
    expect(await parseError('cron:0')).toContain('this one has 1 (quote the whole spec, or the shell splits it at its spaces)');
  });

  it('reads a composed ttl', async () => {
    expect(await parseOne('ttl:1h30m')).toMatchObject({ kind: 'ttl', ms: 5_400_000 });
  });

  it('lists every form of policy in its help', () => {
    for (const form of ['daily,', 'daily@HH:MM', 'hourly', 'weekly', 'monthly', 'cron:<expr>', 'ttl:<duration>', 'forever']) {
      expect(POLICY_HELP).toContain(form);
    }
  });

  it.each(['daily', 'hourly', 'weekly', 'monthly', 'forever'] as const)('reads %s', async (kind) => {
    expect(await parseOne(kind)).toEqual({ kind, spec: kind });
  });

  it('ignores spaces around a spec', async () => {
    expect(await parseOne('  weekly ')).toEqual({ kind: 'weekly', spec: 'weekly' });
  });

  it('reads ttl:<duration> into milliseconds', async () => {
    expect(await parseOne('ttl:90m')).toEqual({ kind: 'ttl', spec: 'ttl:90m', ms: 90 * 60_000 });
  });

  it('rejects a ttl without a valid duration with a message naming the spec and giving examples', async () => {
    const error = await parseError('ttl:30');
    expect(error).toContain("'ttl:30'");
    expect(error).toContain('6h');
  });
});

describe('parsePolicies daily@HH:MM', () => {
  it('reads the hour and minute the day starts at', async () => {
    expect(await parseOne('daily@06:30')).toEqual({ kind: 'daily-at', spec: 'daily@06:30', hour: 6, minute: 30 });
  });

  it('writes a one-digit hour with two digits in the spec', async () => {
    expect(await parseOne('daily@6:05')).toEqual({ kind: 'daily-at', spec: 'daily@06:05', hour: 6, minute: 5 });
  });

  it('accepts 00:00, the first minute of the day', async () => {
    expect(await parseOne('daily@00:00')).toMatchObject({ hour: 0, minute: 0 });
  });

  it('accepts 23:59, the last minute of the day', async () => {
    expect(await parseOne('daily@23:59')).toMatchObject({ hour: 23, minute: 59 });
  });

  it.each(['daily@24:00', 'daily@23:60', 'daily@6', 'daily@', 'daily@06:00:00', 'daily@ab:cd', 'daily@-1:00'])(
    "rejects '%s' with a message naming it and the HH:MM form",
    async (spec) => {
      const error = await parseError(spec);
      expect(error).toContain(`'${spec}'`);
      expect(error).toContain('HH:MM');
    },
  );
});

describe('parsePolicies cron', () => {
  it('reads a five-field expression', async () => {
    expect(await parseOne('cron:0 6 * * 1-5')).toMatchObject({ kind: 'cron', spec: 'cron:0 6 * * 1-5', expression: '0 6 * * 1-5' });
  });

  it('writes the fields single-spaced in the spec', async () => {
    expect(await parseOne('cron:  0   6 * *  1-5 ')).toMatchObject({ spec: 'cron:0 6 * * 1-5', expression: '0 6 * * 1-5' });
  });

  it('reads month and day names', async () => {
    expect(await parseOne('cron:0 6 1 jan,jul mon')).toMatchObject({ kind: 'cron', expression: '0 6 1 jan,jul mon' });
  });

  it('reads an expression in a named zone', async () => {
    expect(await parseOne('cron:0 6 * * *', PARIS)).toMatchObject({ kind: 'cron' });
  });

  it('rejects a six-field expression, saying seconds are not supported', async () => {
    const error = await parseError('cron:0 0 6 * * *');
    expect(error).toContain("'cron:0 0 6 * * *'");
    expect(error).toContain('seconds');
  });

  it.each(['cron:0 6 * *', 'cron:', 'cron:@daily'])("rejects '%s', which does not have five fields", async (spec) => {
    const error = await parseError(spec);
    expect(error).toContain(`'${spec}'`);
    expect(error).toContain('5 fields');
  });

  it.each(['cron:61 * * * *', 'cron:0 24 * * *', 'cron:0 0 32 * *', 'cron:0 0 * 13 *', 'cron:0 0 * * 8', 'cron:a b c d e', 'cron:*/0 * * * *', 'cron:5-1 * * * *'])(
    "rejects '%s' with a message naming it and giving an example",
    async (spec) => {
      const error = await parseError(spec);
      expect(error).toContain(`'${spec}'`);
      expect(error).toContain("'cron:0 6 * * 1-5'");
    },
  );

  it('rejects an expression that never fires, naming it', async () => {
    const error = await parseError('cron:0 0 30 2 *');
    expect(error).toContain("'cron:0 0 30 2 *'");
    expect(error).toContain('never fires');
  });
});

describe('judgePolicy, recorded after now', () => {
  const recordedAt = at('2024-08-27T12:00:00Z');

  it.each(['daily', 'daily@06:00', 'hourly', 'weekly', 'monthly', 'cron:*/5 * * * *', 'ttl:6h'])(
    'treats a %s entry recorded after now as stale',
    async (spec) => {
      expect(judgePolicy(await parseOne(spec), recordedAt, recordedAt - 1000, LOCAL_ZONE).fresh).toBe(false);
    },
  );

  it('keeps a forever entry fresh, with no expiry, even when recorded after now', () => {
    expect(judgePolicy(forever, recordedAt, recordedAt - 1000, LOCAL_ZONE)).toEqual({ fresh: true, expiresAt: null });
  });
});

describe('judgePolicy with a named zone', () => {
  // The process is in Tokyo; the policies must follow the zone they are given.
  useTimeZone('Asia/Tokyo');

  const NEW_YORK: Zone = { name: 'America/New_York' };

  it('keeps a daily entry fresh until New York midnight, not Tokyo midnight', () => {
    // 10:00 in New York is 23:00 in Tokyo: Tokyo's midnight is an hour away.
    const recordedAt = at('2024-08-27T10:00:00-04:00');
    expect(judgePolicy(daily, recordedAt, recordedAt, NEW_YORK).expiresAt).toBe(at('2024-08-28T00:00:00-04:00'));
  });

  it('ticks a cron schedule on New York wall-clock time', async () => {
    const recordedAt = at('2024-08-27T10:00:00-04:00');
    const verdict = judgePolicy(await parseOne('cron:0 6 * * *', NEW_YORK), recordedAt, recordedAt, NEW_YORK);
    expect(verdict.expiresAt).toBe(at('2024-08-28T06:00:00-04:00'));
  });

  it('evaluates one parsed cron policy in whichever zone it is judged in', async () => {
    const policy = await parseOne('cron:0 6 * * *', NEW_YORK);
    const recordedAt = at('2024-08-27T10:00:00+09:00');
    expect(judgePolicy(policy, recordedAt, recordedAt, LOCAL_ZONE).expiresAt).toBe(at('2024-08-28T06:00:00+09:00'));
  });
});

describe('judgePolicy ttl', () => {
  const recordedAt = at('2024-08-27T12:00:00Z');

  it('keeps a ttl entry fresh one millisecond before its ttl has passed', () => {
    expect(judgePolicy(ttl(6), recordedAt, recordedAt + 6 * HOUR - 1, LOCAL_ZONE).fresh).toBe(true);
  });

  it('makes a ttl entry stale exactly when its ttl has passed', () => {
    expect(judgePolicy(ttl(6), recordedAt, recordedAt + 6 * HOUR, LOCAL_ZONE).fresh).toBe(false);
  });

  it('expires a ttl entry at its record time plus the ttl', () => {
    expect(judgePolicy(ttl(6), recordedAt, recordedAt, LOCAL_ZONE).expiresAt).toBe(recordedAt + 6 * HOUR);
  });
});

describe('judgePolicy forever', () => {
  it('keeps an entry fresh years later, with no expiry', () => {
    const recordedAt = at('2024-08-27T12:00:00Z');
    expect(judgePolicy(forever, recordedAt, at('2034-08-27T12:00:00Z'), LOCAL_ZONE)).toEqual({ fresh: true, expiresAt: null });
  });
});

describe('judgePolicies', () => {
  useTimeZone('Europe/Paris');

  const recordedAt = at('2024-08-27T20:00:00+02:00');

  it('expires at the daily boundary when it comes before the ttl', () => {
    expect(judgePolicies([ttl(6), daily], recordedAt, recordedAt, LOCAL_ZONE).expiresAt).toBe(at('2024-08-28T00:00:00+02:00'));
  });

  it('expires at the ttl when it comes before the daily boundary', () => {
    expect(judgePolicies([daily, ttl(1)], recordedAt, recordedAt, LOCAL_ZONE).expiresAt).toBe(at('2024-08-27T21:00:00+02:00'));
  });

  it('expires at the earliest of a cron tick and a calendar boundary', async () => {
    const policies = [daily, await parseOne('cron:30 20 * * *')];
    expect(judgePolicies(policies, recordedAt, recordedAt, LOCAL_ZONE).expiresAt).toBe(at('2024-08-27T20:30:00+02:00'));
  });

  it('has no expiry when every policy is forever', () => {
    expect(judgePolicies([forever], recordedAt, recordedAt, LOCAL_ZONE).expiresAt).toBeNull();
  });

  it('is stale as soon as one policy is stale, even though the others are fresh', () => {
    expect(judgePolicies([daily, ttl(1), forever], recordedAt, at('2024-08-27T22:30:00+02:00'), LOCAL_ZONE).fresh).toBe(false);
  });

  it('is fresh while every policy is fresh', () => {
    expect(judgePolicies([daily, ttl(3), forever], recordedAt, at('2024-08-27T22:30:00+02:00'), LOCAL_ZONE).fresh).toBe(true);
  });

  it('is stale once the hour is over, although the day is not', () => {
    expect(judgePolicies([daily, hourly], recordedAt, at('2024-08-27T21:00:00+02:00'), LOCAL_ZONE).fresh).toBe(false);
  });

  it('judges in the zone it is given, not the process zone', () => {
    // 20:00 in Paris is 03:00 the next day in Tokyo, where the day ends 21 hours later.
    expect(judgePolicies([daily], recordedAt, recordedAt, { name: 'Asia/Tokyo' }).expiresAt).toBe(at('2024-08-29T00:00:00+09:00'));
  });
});
