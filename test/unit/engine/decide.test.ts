import { describe, expect, it } from 'vitest';
import { judgeRules, judgeSources } from '../../../src/engine/decide.js';
import type { CacheKey } from '../../../src/core/hash.js';
import { parseZone } from '../../../src/policy/clock.js';
import { parsePolicies } from '../../../src/policy/policy.js';
import { buildKeyMaterial } from '../../../src/schema/key.js';
import type { Manifest } from '../../../src/schema/manifest.js';
import type { SourceCheck } from '../../../src/sources/check.js';

// The engine's pure decisions: given an entry, the call's rules, the time,
// and what the watched sources look like now, replay or run, and why.

const MONDAY_9 = Date.UTC(2026, 2, 2, 8); // 09:00 in Paris
const HOUR = 3_600_000;

const entry = (over: Partial<Manifest> = {}): Manifest => ({
  format: 2,
  key: '0123456789abcdef' as CacheKey,
  material: buildKeyMaterial({ argv: ['fetch'], cwd: null }),
  recordedAt: MONDAY_9,
  durationMs: 10,
  exitCode: 0,
  policies: ['daily'],
  tz: 'Europe/Paris',
  stdout: null,
  stderr: null,
  order: null,
  outputs: [],
  validators: [],
  ...over,
});

async function rules(specs: string[], cacheFailures = false) {
  const zone = parseZone('Europe/Paris');
  if (!zone.ok) throw new Error(zone.error);
  const policies = await parsePolicies(specs, zone.value);
  if (!policies.ok) throw new Error(policies.error);
  return { policies: policies.value, zone: zone.value, cacheFailures };
}

describe('judgeRules', () => {
  it('holds for an entry of today under daily, until midnight', async () => {
    const judged = judgeRules(entry(), await rules(['daily']), MONDAY_9 + 6 * HOUR);
    expect(judged).toEqual({ fresh: true, verdict: { fresh: true, expiresAt: Date.UTC(2026, 2, 2, 23) } });
  });

  it('says since when and which policy failed, not every policy given', async () => {
    const judged = judgeRules(entry(), await rules(['daily', 'ttl:1h']), MONDAY_9 + 2 * HOUR);
    expect(judged.fresh).toBe(false);
    if (!judged.fresh) expect(judged.decision).toMatchObject({ fresh: false, reason: 'stale since 2026-03-02 10:00:00 +01:00, ttl:1h' });
  });

  it('asks the front end’s own check once the policies hold, and misses with its reason when it says no', async () => {
    const asked: number[] = [];
    const vet = (_entry: Manifest, now: number) => {
      asked.push(now);
      return now - MONDAY_9 > HOUR ? 'the policy function young said no' : null;
    };
    const given = { ...(await rules(['daily'])), vet };
    expect(judgeRules(entry(), given, MONDAY_9 + HOUR / 2).fresh).toBe(true);
    const judged = judgeRules(entry(), given, MONDAY_9 + 2 * HOUR);
    expect(judged.fresh).toBe(false);
    if (!judged.fresh) expect(judged.decision).toMatchObject({ reason: 'the policy function young said no', verdict: { fresh: true } });
    // a policy that no longer holds decides before the check is asked
    expect(judgeRules(entry(), given, MONDAY_9 + 24 * HOUR).fresh).toBe(false);
    expect(asked).toEqual([MONDAY_9 + HOUR / 2, MONDAY_9 + 2 * HOUR]);
  });

  it('does not trust an entry recorded after now', async () => {
    const judged = judgeRules(entry(), await rules(['daily']), MONDAY_9 - HOUR);
    expect(judged.fresh).toBe(false);
    if (!judged.fresh) expect(judged.decision).toMatchObject({ reason: 'recorded after now, daily' });
  });

  it('keeps a recorded failure from a call that does not cache failures, whatever the policies', async () => {
    const failed = entry({ exitCode: 2 });
    const judged = judgeRules(failed, await rules(['forever']), MONDAY_9);
    expect(judged.fresh).toBe(false);
    if (!judged.fresh) expect(judged.decision).toMatchObject({ reason: 'the entry is a recorded failure (exit 2), replayed only with --cache-failures' });
    expect(judgeRules(failed, await rules(['forever'], true), MONDAY_9).fresh).toBe(true);
  });
});

describe('judgeSources', () => {
  const verdict = { fresh: true, expiresAt: null };
  const source = { kind: 'path', source: 'in.csv', label: 'in.csv', id: 'path:in.csv' };
  const check = (unchanged: boolean, current: SourceCheck['current'] = { ok: true, fingerprint: { kind: 'path', source: 'in.csv', id: 'path:in.csv', files: [] } }): SourceCheck => ({
    source,
    recorded: { kind: 'path', source: 'in.csv', id: 'path:in.csv', files: [] },
    current,
    unchanged,
  });

  it('replays when every source is unchanged', () => {
    expect(judgeSources(entry(), verdict, [check(true)])).toMatchObject({ fresh: true });
  });

  it('runs when a source changed, naming it', () => {
    expect(judgeSources(entry(), verdict, [check(true), check(false)])).toMatchObject({ fresh: false, reason: 'in.csv changed' });
  });

  it('runs when a source could not be checked, saying why', () => {
    const decision = judgeSources(entry(), verdict, [check(false, { ok: false, detail: 'in.csv: EACCES' })]);
    expect(decision).toMatchObject({ fresh: false, reason: 'in.csv could not be checked: in.csv: EACCES' });
  });
});
