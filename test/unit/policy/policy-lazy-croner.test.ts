import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LOCAL_ZONE } from '../../../src/policy/zone.js';

// Loading croner is a cost only cron policies should pay. The mock counts
// loads of the real module.
const croner = vi.hoisted(() => ({ loads: 0 }));
vi.mock('croner', async (importOriginal) => {
  croner.loads++;
  return importOriginal();
});

// Each test imports the policy module afresh, in a module registry where
// croner is not loaded yet, with the count at zero: no test depends on
// which ran before it.
beforeEach(() => {
  vi.resetModules();
  croner.loads = 0;
});

const loadPolicies = () => import('../../../src/policy/policy.js');

describe('parsePolicies and croner', () => {
  it('parses every policy but cron without loading croner', async () => {
    const { parsePolicies } = await loadPolicies();
    await parsePolicies(['daily', 'daily@06:00', 'hourly', 'weekly', 'monthly', 'ttl:6h', 'forever'], LOCAL_ZONE);
    expect(croner.loads).toBe(0);
  });

  it('parses the default policy without loading croner', async () => {
    const { parsePolicies } = await loadPolicies();
    await parsePolicies([], LOCAL_ZONE);
    expect(croner.loads).toBe(0);
  });

  it('loads croner once a cron policy is given', async () => {
    const { parsePolicies } = await loadPolicies();
    await parsePolicies(['daily', 'cron:0 6 * * *'], LOCAL_ZONE);
    expect(croner.loads).toBe(1);
  });
});
