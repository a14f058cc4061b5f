import { describe, expect, it } from 'vitest';
import { refreshLimit } from '../../../src/engine/call.js';

// How long a background refresh may run before it is stopped.
describe('refreshLimit', () => {
  it('is ten times the entry\'s last run', () => {
    expect(refreshLimit({ refreshLimitMs: null }, 6 * 60_000)).toBe(60 * 60_000);
  });

  it('is at least a minute, for a run of a few seconds or one never timed', () => {
    expect(refreshLimit({ refreshLimitMs: null }, 2_000)).toBe(60_000);
    expect(refreshLimit({ refreshLimitMs: null }, null)).toBe(60_000);
  });

  it('is DCACHE_REFRESH_LIMIT when it is set, whatever the last run', () => {
    expect(refreshLimit({ refreshLimitMs: 5_000 }, 6 * 60_000)).toBe(5_000);
  });
});
