import { describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_MS, leaseTiming } from '../../../src/ports/lease.js';
import { LEASE_POLL_MS, leasePollMs } from '../../../src/store/remote/object-store.js';

// A waiter on a bucket looks at the lease less often the longer it waits:
// 64 machines waiting an hour must not cost the bucket 256 requests a second.
describe('leasePollMs, with the default 10 s lease', () => {
  const timing = leaseTiming(DEFAULT_LEASE_MS);

  it.each([
    [0, LEASE_POLL_MS],
    [4_000, LEASE_POLL_MS],
    [10_000, 1_000],
    // through the first minute, at most a second: a waiter replays within a
    // second of the holder's publishing
    [20_000, 1_000],
    [59_999, 1_000],
    [60_000, 2_500],
    // from a quarter of a lease on, no longer: a takeover is never later than that
    [60 * 60 * 1000, 2_500],
  ])('waits %i ms into a wait: looks again after %i ms', (waited, expected) => {
    expect(leasePollMs(timing, waited)).toBe(expected);
  });

  it('never waits more than a second between looks in the first minute, whatever the lease', () => {
    for (const lease of [1_000, 10_000, 60_000, 600_000]) {
      for (let waited = 0; waited < 60_000; waited += 250) expect(leasePollMs(leaseTiming(lease), waited)).toBeLessThanOrEqual(1_000);
    }
  });

  it('makes an hour of waiting about 1,500 looks, not 7,200', () => {
    let looks = 0;
    for (let waited = 0; waited < 60 * 60 * 1000; waited += leasePollMs(timing, waited)) looks++;
    expect(looks).toBeLessThan(1_550);
    expect(looks).toBeGreaterThan(1_400);
  });
});

describe('leasePollMs, with a short lease (tests, DCACHE_LOCK_LEASE=1s)', () => {
  it('never looks less often than every LEASE_POLL_MS, even past a quarter lease', () => {
    const timing = leaseTiming(1_000);
    expect(leasePollMs(timing, 0)).toBe(LEASE_POLL_MS);
    expect(leasePollMs(timing, 60_000)).toBe(LEASE_POLL_MS);
  });
});
