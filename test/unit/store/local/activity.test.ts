import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { activityDir, compactActivity, readActivity, recordEvent } from '../../../../src/store/local/activity.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function cacheRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'dcache-activity-'));
  roots.push(root);
  mkdirSync(activityDir(root), { recursive: true });
  return root;
}

const DAY = 86_400_000;
const monday = Date.parse('2024-08-26T12:00:00Z');

describe('the hits of a recording', () => {
  it('are those that name it and come after it: an earlier recording’s, and one before it by the clock, are not', () => {
    const root = cacheRoot();
    const hit = (t: number, r: number, remote = false) => recordEvent(root, { t, k: 'k', e: 'hit', saved: 0, r, ...(remote ? { remote } : {}) });
    hit(monday + 1000, monday);
    hit(monday + 2000, monday);
    hit(monday + DAY + 1000, monday + DAY, true);
    // the clock set back, and an older recording replayed late
    hit(monday + DAY - 1000, monday + DAY);
    hit(monday + DAY + 5000, monday);
    const key = readActivity(root).keys.get('k')!;
    expect(key.hits).toBe(5);
    expect(key.recording).toEqual({ at: monday + DAY, hits: 1, remoteHits: 1, lastHitAt: monday + DAY + 1000 });
  });

  it('are kept when past days are folded into the summary', () => {
    const root = cacheRoot();
    recordEvent(root, { t: monday + 1000, k: 'k', e: 'hit', saved: 0, r: monday });
    recordEvent(root, { t: monday + DAY, k: 'k', e: 'hit', saved: 0, r: monday });
    const before = readActivity(root).keys.get('k')!.recording;
    compactActivity(root, monday + 2 * DAY, 1);
    expect(readActivity(root).keys.get('k')!.recording).toEqual(before);
    expect(before).toEqual({ at: monday, hits: 2, remoteHits: 0, lastHitAt: monday + DAY });
  });
});
