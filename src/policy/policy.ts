import { startOfNextDay, startOfNextHour, startOfNextMonth, startOfNextWeek } from './clock.js';
import { parseDuration } from './duration.js';
import type { Result } from '../core/errors.js';
import { fail, ok, unreachable } from '../core/errors.js';
import { LOCAL_ZONE, type Zone } from './zone.js';

type Croner = typeof import('croner');

// A freshness policy: decides from an entry's record time and "now" whether
// the entry may be replayed. Pure: the clock and the zone are arguments.
// `spec` is the policy as the user wrote it, normalised (trimmed, daily@6:00
// as daily@06:00, a cron expression's fields single-spaced).
export type Policy =
  | { kind: 'daily'; spec: string }
  | { kind: 'daily-at'; spec: string; hour: number; minute: number }
  | { kind: 'hourly'; spec: string }
  | { kind: 'weekly'; spec: string }
  | { kind: 'monthly'; spec: string }
  | { kind: 'cron'; spec: string; expression: string; nextTick: NextTick }
  | { kind: 'ttl'; spec: string; ms: number }
  | { kind: 'forever'; spec: string };

// The first tick of a cron schedule strictly after `after`, in `zone`; null
// if it never ticks again.
export type NextTick = (after: number, zone: Zone) => number | null;

export const DEFAULT_POLICY = 'daily';
export const CRON_EXAMPLE = "'cron:0 6 * * 1-5'";
export const POLICY_HELP =
  `daily, daily@HH:MM (e.g. daily@06:00), hourly, weekly, monthly, cron:<expr> (e.g. ${CRON_EXAMPLE}), ` +
  'ttl:<duration> (e.g. ttl:6h) or forever';

const CALENDAR_KINDS = ['daily', 'hourly', 'weekly', 'monthly'] as const;

// Reads --policy specs; none means daily. croner is loaded only when a cron
// policy is present, so the common hit path never initialises it.
export async function parsePolicies(specs: readonly string[], zone: Zone): Promise<Result<Policy[], string>> {
  const texts = specs.length > 0 ? specs : [DEFAULT_POLICY];
  const croner = texts.some((spec) => spec.trim().startsWith('cron:')) ? await import('croner') : null;
  const policies: Policy[] = [];
  for (const spec of texts) {
    const parsed = parsePolicy(spec, zone, croner);
    if (!parsed.ok) return parsed;
    policies.push(parsed.value);
  }
  return ok(policies);
}

// Checks a spec as far as can be done without croner, at once: all but
// the fields of a cron expression, which croner checks when it is parsed.
export function checkPolicySpec(spec: string): Result<null, string> {
  const text = spec.trim();
  const checked = text.startsWith('cron:') ? cronFields(spec, text.slice(5)) : parsePolicy(spec, LOCAL_ZONE, null);
  return checked.ok ? ok(null) : checked;
}

function parsePolicy(spec: string, zone: Zone, croner: Croner | null): Result<Policy, string> {
  const text = spec.trim();
  for (const kind of CALENDAR_KINDS) {
    if (text === kind) return ok({ kind, spec: text });
  }
  if (text === 'forever') return ok({ kind: 'forever', spec: text });
  if (text.startsWith('ttl:')) {
    const duration = parseDuration(text.slice(4));
    if (!duration.ok) return fail(`--policy '${spec}': ${duration.error}`);
    return ok({ kind: 'ttl', spec: text, ms: duration.value });
  }
  if (text.startsWith('daily@')) return parseDailyAt(spec, text.slice(6));
  if (text.startsWith('cron:')) {
    if (croner === null) throw new Error(`croner was not loaded for '${spec}'`);
    return parseCron(spec, text.slice(5), zone, croner);
  }
  return fail(`--policy '${spec}' is not a policy${suggestPolicy(text)}; use ${POLICY_HELP}`);
}

// "; did you mean ttl:6h?" for a bare duration, "daily" for "dayly".
function suggestPolicy(text: string): string {
  if (text !== '' && parseDuration(text).ok) return ` (did you mean ttl:${text}?)`;
  const near = [...CALENDAR_KINDS, 'forever'].find((name) => editDistance(text.toLowerCase(), name) <= 2);
  return near === undefined ? '' : ` (did you mean ${near}?)`;
}

// The number of one-character edits that turn a into b (Levenshtein).
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

function parseDailyAt(spec: string, time: string): Result<Policy, string> {
  const m = /^(\d{1,2}):(\d{2})$/.exec(time);
  const hour = Number(m?.[1]);
  const minute = Number(m?.[2]);
  if (!m || hour > 23 || minute > 59) {
    return fail(`--policy '${spec}': '${time}' is not a time of day; use HH:MM from 00:00 to 23:59, e.g. daily@06:00`);
  }
  const hhmm = `${String(hour).padStart(2, '0')}:${m[2]}`;
  return ok({ kind: 'daily-at', spec: `daily@${hhmm}`, hour, minute });
}

const CRON_FIELDS = 'minute hour day-of-month month day-of-week';

// The five fields of a cron expression, or why it does not have them.
function cronFields(spec: string, body: string): Result<string[], string> {
  const fields = body.trim().split(/\s+/).filter((field) => field !== '');
  if (fields.length === 5) return ok(fields);
  // `-p cron:0 6 * * 1-5` unquoted: the shell gave dcache `cron:0` alone
  const seconds =
    fields.length === 6 ? ' (a seconds field is not supported)' : fields.length < 5 ? ' (quote the whole spec, or the shell splits it at its spaces)' : '';
  return fail(`--policy '${spec}': a cron expression has 5 fields (${CRON_FIELDS}), this one has ${fields.length}${seconds}; use for example ${CRON_EXAMPLE}`);
}

// A five-field cron expression, with croner's DST rules (as Vixie cron's): a
// fixed time skipped by clocks springing forward ticks at the first instant
// after the gap, and one that occurs twice ticks once; schedules with a
// wildcard or step in the minute or hour tick at each real occurrence.
function parseCron(spec: string, body: string, zone: Zone, croner: Croner): Result<Policy, string> {
  const fields = cronFields(spec, body);
  if (!fields.ok) return fields;
  const expression = fields.value.join(' ');
  const nextTick = createNextTick(expression, croner);
  let first: number | null;
  try {
    // Any fixed instant will do: a schedule that ticks at all ticks after it.
    first = nextTick(Date.UTC(2000, 0, 1), zone);
  } catch (error) {
    const reason = error instanceof Error ? describeCronError(error.message) : String(error);
    return fail(`--policy '${spec}': not a valid cron expression: ${reason}; use for example ${CRON_EXAMPLE}`);
  }
  if (first === null) return fail(`--policy '${spec}': the cron expression never fires (a date that does not exist?)`);
  return ok({ kind: 'cron', spec: `cron:${expression}`, expression, nextTick });
}

// croner's messages, without its prefix and with its field numbers (0 is
// the seconds field it adds in front) as the field names of a cron line.
function describeCronError(message: string): string {
  const names = ['second', 'minute', 'hour', 'day-of-month', 'month', 'day-of-week'];
  return message
    .replace(/^CronPattern: /, '')
    .replace(/configuration entry (\d)/, (whole, index: string) => {
      const name = names[Number(index)];
      return name === undefined ? whole : `the ${name} field`;
    })
    .replace(/\.$/, '');
}

// One croner schedule per zone, made on first use: the zone is an argument of
// judgePolicy, not fixed at parse time.
function createNextTick(expression: string, croner: Croner): NextTick {
  const schedules = new Map<string | null, InstanceType<Croner['Cron']>>();
  return (after, zone) => {
    let schedule = schedules.get(zone.name);
    if (schedule === undefined) {
      schedule = new croner.Cron(expression, {
        mode: '5-part',
        // The local zone stays on Date's local methods (no Intl formatter).
        ...(zone.name === null ? {} : { timezone: zone.name }),
        // Day of month and day of week combine with OR, as in Vixie cron.
        domAndDow: false,
        // Lists and ranges of fixed times (30 2,14 * * *) are fixed times too, as in Vixie cron.
        fixedTimeRule: 'no-wildcard',
      });
      schedules.set(zone.name, schedule);
    }
    return schedule.nextRun(new Date(after))?.getTime() ?? null;
  };
}

export interface Verdict {
  fresh: boolean;
  // the first instant at which the entry is no longer fresh; null for never
  expiresAt: number | null;
}

// An entry recorded after `now` (a clock set back, or DCACHE_NOW in the past)
// is never fresh, except under `forever`: nothing can vouch for it.
export function judgePolicy(policy: Policy, recordedAt: number, now: number, zone: Zone): Verdict {
  if (policy.kind === 'forever') return { fresh: true, expiresAt: null };
  const expiresAt = expiryOf(policy, recordedAt, zone);
  return { fresh: recordedAt <= now && (expiresAt === null || now < expiresAt), expiresAt };
}

// The first instant after `recordedAt` at which the policy lets go of the entry.
function expiryOf(policy: Exclude<Policy, { kind: 'forever' }>, recordedAt: number, zone: Zone): number | null {
  switch (policy.kind) {
    case 'ttl':
      return recordedAt + policy.ms;
    case 'daily':
      return startOfNextDay(recordedAt, zone);
    case 'daily-at':
      return startOfNextDay(recordedAt, zone, policy.hour * 60 + policy.minute);
    case 'hourly':
      return startOfNextHour(recordedAt, zone);
    case 'weekly':
      return startOfNextWeek(recordedAt, zone);
    case 'monthly':
      return startOfNextMonth(recordedAt, zone);
    case 'cron':
      return policy.nextTick(recordedAt, zone);
    default:
      return unreachable(policy);
  }
}

// All policies must hold; the entry expires at the earliest expiry.
export function judgePolicies(policies: readonly Policy[], recordedAt: number, now: number, zone: Zone): Verdict {
  let fresh = true;
  let expiresAt: number | null = null;
  for (const policy of policies) {
    const verdict = judgePolicy(policy, recordedAt, now, zone);
    fresh &&= verdict.fresh;
    if (verdict.expiresAt !== null && (expiresAt === null || verdict.expiresAt < expiresAt)) {
      expiresAt = verdict.expiresAt;
    }
  }
  return { fresh, expiresAt };
}
