import { describe, expect, it, vi } from 'vitest';
import { parsePolicies } from '../../src/policy/policy.js';
import { LOCAL_ZONE } from '../../src/policy/zone.js';

// Loading croner is a cost only cron policies should pay. The mock counts
// loads of the real module; the tests without cron run first, in file order.
const croner = vi.hoisted(() => ({ loads: 0 }));
vi.mock('croner', async (importOriginal) => {
  croner.loads++;
  return importOriginal();
});

describe('parsePolicies and croner', () => {
  it('parses every policy but cron without loading croner', async () => {
    await parsePolicies(['daily', 'daily@06:00', 'hourly', 'weekly', 'monthly', 'ttl:6h', 'forever'], LOCAL_ZONE);
    expect(croner.loads).toBe(0);
  });

  it('parses the default policy without loading croner', async () => {
    await parsePolicies([], LOCAL_ZONE);
    expect(croner.loads).toBe(0);
  });

  it('loads croner once a cron policy is given', async () => {
    await parsePolicies(['daily', 'cron:0 6 * * *'], LOCAL_ZONE);
    expect(croner.loads).toBe(1);
  });
});
