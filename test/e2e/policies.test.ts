import { describe, expect, it } from '../support/fixture.js';
import { expectOneLineRefusal, plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// Calendar and cron policies end to end: the clock moves with DCACHE_NOW, a
// counting fixture says whether the command ran. The unit tests cover the
// boundaries in depth; these check that the CLI wires them up.

const at = (now: string) => ({ env: { DCACHE_NOW: now } });

// Calls `dcache run <options> -- fetch.sh` at each instant in turn and
// returns after how many calls the command had run, one count per call.
function runsAt(box: Sandbox, options: string[], instants: string[]): number[] {
  const fetch = box.counter('fetch.sh', 'echo data');
  return instants.map((now) => {
    const r = box.dcache(['run', ...options, '--', fetch.path], at(now));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('data\n');
    return fetch.runs();
  });
}

describe('the hourly policy', () => {
  it('replays within the calendar hour and runs again at the next hour mark', ({ box }) => {
    expect(runsAt(box, ['-p', 'hourly'], ['2024-08-27T09:15:00', '2024-08-27T09:59:59', '2024-08-27T10:00:00'])).toEqual([1, 1, 2]);
  });

  it('counts the repeated hour of an autumn DST change as an hour of its own', ({ box }) => {
    // Paris, 2024-10-27: clocks go back from 03:00 +02:00 to 02:00 +01:00.
    expect(
      runsAt(box, ['-p', 'hourly'], ['2024-10-27T02:30:00+02:00', '2024-10-27T02:59:00+02:00', '2024-10-27T02:10:00+01:00']),
    ).toEqual([1, 1, 2]);
  });
});

describe('the weekly policy', () => {
  it('replays until Sunday night and runs again on Monday at midnight', ({ box }) => {
    // 2024-08-28 is a Wednesday; the ISO week ends on Sunday 2024-09-01.
    expect(runsAt(box, ['-p', 'weekly'], ['2024-08-28T10:00:00', '2024-09-01T23:59:59', '2024-09-02T00:00:00'])).toEqual([1, 1, 2]);
  });

  it('keeps the week of a spring DST change until Monday midnight', ({ box }) => {
    // Monday 2024-03-25 to Sunday 2024-03-31, when Paris moves to +02:00.
    expect(runsAt(box, ['-p', 'weekly'], ['2024-03-25T00:00:00', '2024-03-31T23:59:59', '2024-04-01T00:00:00'])).toEqual([1, 1, 2]);
  });

  it('lets an entry recorded on Sunday go on Monday, not seven days later', ({ box }) => {
    expect(runsAt(box, ['-p', 'weekly'], ['2024-09-01T23:00:00', '2024-09-02T00:00:00'])).toEqual([1, 2]);
  });

  it('says the entry is fresh until Monday midnight', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'weekly', '--', fetch.path], at('2024-08-28T10:00:00'));
    const hit = box.dcache(['run', '-v', '-p', 'weekly', '--', fetch.path], at('2024-08-30T10:00:00'));
    expect(plain(hit.stderr)).toBe(
      'dcache: hit: recorded 2d ago (2024-08-28 10:00:00 +02:00), fresh until 2024-09-02 00:00:00 +02:00 (weekly)\n',
    );
  });
});

describe('the monthly policy', () => {
  it('replays until the last second of the month and runs again on the first', ({ box }) => {
    expect(runsAt(box, ['-p', 'monthly'], ['2024-08-01T00:00:00', '2024-08-31T23:59:59', '2024-09-01T00:00:00'])).toEqual([1, 1, 2]);
  });

  it('ends February on the 29th in a leap year', ({ box }) => {
    expect(runsAt(box, ['-p', 'monthly'], ['2024-02-10T12:00:00', '2024-02-29T23:59:00', '2024-03-01T00:00:00'])).toEqual([1, 1, 2]);
  });
});

describe('the daily@HH:MM policy', () => {
  it('lets an entry recorded at 05:59 go at 06:00 the same day', ({ box }) => {
    expect(runsAt(box, ['-p', 'daily@06:00'], ['2024-08-27T05:59:00', '2024-08-27T06:00:00'])).toEqual([1, 2]);
  });

  it('keeps an entry recorded at 06:00 until 05:59 the next day, and lets it go at 06:00', ({ box }) => {
    expect(
      runsAt(box, ['-p', 'daily@06:00'], ['2024-08-27T06:00:00', '2024-08-28T05:59:00', '2024-08-28T06:00:00']),
    ).toEqual([1, 1, 2]);
  });

  it('says the entry is fresh until the next 06:00', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'daily@06:00', '--', fetch.path], at('2024-08-27T06:00:00'));
    const hit = box.dcache(['run', '-v', '-p', 'daily@06:00', '--', fetch.path], at('2024-08-28T05:59:00'));
    expect(plain(hit.stderr)).toBe(
      'dcache: hit: recorded 23h59m ago (2024-08-27 06:00:00 +02:00), fresh until 2024-08-28 06:00:00 +02:00 (daily@06:00)\n',
    );
  });
});

describe('the cron policy', () => {
  it('keeps an entry until the next tick of the schedule', ({ box }) => {
    expect(
      runsAt(box, ['-p', 'cron:0 6 * * *'], ['2024-08-27T07:00:00', '2024-08-28T05:59:59', '2024-08-28T06:00:00']),
    ).toEqual([1, 1, 2]);
  });

  it('lets an entry recorded just before a tick go at the tick', ({ box }) => {
    expect(runsAt(box, ['-p', 'cron:0 6 * * *'], ['2024-08-27T05:00:00', '2024-08-27T06:00:00'])).toEqual([1, 2]);
  });

  it('says the entry is fresh until the next tick', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'cron:0 6 * * *', '--', fetch.path], at('2024-08-27T07:00:00'));
    const hit = box.dcache(['run', '-v', '-p', 'cron:0 6 * * *', '--', fetch.path], at('2024-08-27T20:00:00'));
    expect(plain(hit.stderr)).toBe(
      'dcache: hit: recorded 13h ago (2024-08-27 07:00:00 +02:00), fresh until 2024-08-28 06:00:00 +02:00 (cron:0 6 * * *)\n',
    );
  });
});

describe('--tz', () => {
  it('reads DCACHE_NOW without an offset in the --tz zone', ({ box }) => {
    // 01:00 in New York is 05:00Z on the 27th, the 27th there too; read in
    // Paris it would be 23:00Z, the 26th in New York, stale by 12:00Z.
    const options = ['-p', 'daily', '--tz', 'America/New_York'];
    expect(runsAt(box, options, ['2024-08-27T01:00:00', '2024-08-27T12:00:00Z', '2024-08-28T00:00:00'])).toEqual([1, 1, 2]);
  });

  it('ends the day at midnight in the --tz zone, not in TZ', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-v', '-p', 'daily', '--tz', 'America/New_York', '--', fetch.path];
    box.dcache(args, at('2024-08-27T09:00:00'));
    const hit = box.dcache(args, at('2024-08-27T23:59:00'));
    expect(fetch.runs()).toBe(1);
    expect(plain(hit.stderr)).toBe(
      'dcache: hit: recorded 14h59m ago (2024-08-27 09:00:00 -04:00), fresh until 2024-08-28 00:00:00 -04:00 (daily)\n',
    );
  });
});

describe('the daily policy across DST changes in Europe/Paris', () => {
  it('keeps the 23-hour day of the spring change until its midnight', ({ box }) => {
    expect(runsAt(box, ['-p', 'daily'], ['2024-03-31T00:30:00', '2024-03-31T23:59:00', '2024-04-01T00:00:00'])).toEqual([1, 1, 2]);
  });

  it('keeps the 25-hour day of the autumn change until its midnight', ({ box }) => {
    expect(runsAt(box, ['-p', 'daily'], ['2024-10-27T00:30:00', '2024-10-27T23:59:00', '2024-10-28T00:00:00'])).toEqual([1, 1, 2]);
  });

  it('says the autumn day ends at midnight +01:00, 24 hours after a 00:30 +02:00 recording', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'daily', '--', fetch.path], at('2024-10-27T00:30:00'));
    const hit = box.dcache(['run', '-v', '-p', 'daily', '--', fetch.path], at('2024-10-27T23:59:00'));
    expect(plain(hit.stderr)).toBe(
      'dcache: hit: recorded 24h29m ago (2024-10-27 00:30:00 +02:00), fresh until 2024-10-28 00:00:00 +01:00 (daily)\n',
    );
  });
});

describe('daily@HH:MM and cron across DST changes in Europe/Paris', () => {
  // 2024-03-31: 02:00 +01:00 jumps to 03:00 +02:00, so 02:30 does not exist.
  for (const policy of ['daily@02:30', 'cron:30 2 * * *']) {
    it(`takes a ${policy} boundary skipped in spring as the first instant after the gap`, ({ box }) => {
      expect(runsAt(box, ['-p', policy], ['2024-03-30T12:00:00', '2024-03-31T01:59:59', '2024-03-31T03:00:00'])).toEqual([1, 1, 2]);
    });
  }

  // 2024-10-27: 03:00 +02:00 falls back to 02:00 +01:00, so 02:30 happens twice.
  for (const policy of ['daily@02:30', 'cron:30 2 * * *']) {
    it(`passes a ${policy} boundary that happens twice in autumn only once`, ({ box }) => {
      expect(
        runsAt(box, ['-p', policy], ['2024-10-27T02:45:00+02:00', '2024-10-27T02:40:00+01:00', '2024-10-28T02:30:00']),
      ).toEqual([1, 1, 2]);
    });
  }
});

describe('cron with --tz', () => {
  it('reads the schedule in the --tz zone', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-v', '--tz', 'America/New_York', '-p', 'cron:0 6 * * *', '--', fetch.path];
    box.dcache(args, at('2024-08-27T07:00:00'));
    const hit = box.dcache(args, at('2024-08-28T05:59:00'));
    expect(fetch.runs()).toBe(1);
    expect(plain(hit.stderr)).toBe(
      'dcache: hit: recorded 22h59m ago (2024-08-27 07:00:00 -04:00), fresh until 2024-08-28 06:00:00 -04:00 (cron:0 6 * * *)\n',
    );
    box.dcache(args, at('2024-08-28T06:00:00'));
    expect(fetch.runs()).toBe(2);
  });
});

describe('bad policies and zones', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a cron expression with four fields', ['-p', 'cron:0 6 * *'], /--policy 'cron:0 6 \* \*': a cron expression has 5 fields/],
    ['a cron field out of range', ['-p', 'cron:99 6 * * *'], /--policy 'cron:99 6 \* \* \*': not a valid cron expression/],
    ['a cron expression that never fires', ['-p', 'cron:0 0 30 2 *'], /--policy 'cron:0 0 30 2 \*': the cron expression never fires/],
    ['a time of day that does not exist', ['-p', 'daily@25:00'], /--policy 'daily@25:00': '25:00' is not a time of day/],
    ['an unknown zone', ['--tz', 'Mars/Olympus'], /--tz 'Mars\/Olympus' is not a time zone/],
  ];
  for (const [what, options, message] of cases) {
    it(`exits 125 with one line naming ${what}`, ({ box }) => {
      const fetch = box.counter('fetch.sh', 'echo data');
      const r = box.dcache(['run', ...options, '--', fetch.path]);
      expectOneLineRefusal(r, 125, message);
      expect(fetch.runs()).toBe(0);
    });
  }
});
