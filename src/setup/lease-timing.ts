import { parseDuration } from '../policy/duration.js';
import { DEFAULT_LEASE_MS, DEFAULT_MAX_WAIT_MS, leaseTiming, type LeaseTiming } from '../ports/lease.js';

// The timers from DCACHE_LOCK_LEASE, DCACHE_LOCK_HEARTBEAT and
// DCACHE_LOCK_MAX_WAIT (durations; documented for tests and odd file
// systems). A bad value is reported and its default used: a setting that
// only tunes the cache never stops a run.
export function leaseTimingFromEnv(env: NodeJS.ProcessEnv): { timing: LeaseTiming; problems: string[] } {
  const problems: string[] = [];
  const read = (name: string, fallback: number | undefined): number | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const parsed = parseDuration(text);
    if (!parsed.ok) {
      problems.push(`${name} ${parsed.error}; using the default`);
      return fallback;
    }
    return parsed.value;
  };
  const leaseMs = read('DCACHE_LOCK_LEASE', DEFAULT_LEASE_MS)!;
  const maxWaitMs = read('DCACHE_LOCK_MAX_WAIT', DEFAULT_MAX_WAIT_MS)!;
  let heartbeatMs = read('DCACHE_LOCK_HEARTBEAT', undefined);
  if (heartbeatMs !== undefined && heartbeatMs * 2 > leaseMs) {
    problems.push(`DCACHE_LOCK_HEARTBEAT '${env.DCACHE_LOCK_HEARTBEAT}' must be at most half of the lease (${leaseMs} ms); using the default`);
    heartbeatMs = undefined;
  }
  return { timing: leaseTiming(leaseMs, maxWaitMs, heartbeatMs), problems };
}
