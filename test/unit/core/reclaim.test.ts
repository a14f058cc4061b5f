import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { reclaimer } from '../../../src/core/reclaim.js';

// The chunks of a recording are garbage once written: the reclaimer has V8
// collect its young generation every so many bytes passed, instead of
// letting tens of MB of written chunks pile up. (What that does to a
// recording's peak memory, the end-to-end tests of large outputs hold on
// each Node line.)

// The young-generation collections V8 made while `work` ran.
async function minorCollections(work: () => void): Promise<number> {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) count++;
  });
  observer.observe({ entryTypes: ['gc'] });
  work();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return count;
}

describe('the reclaimer', () => {
  it('has the young generation collected each time its share of bytes has passed', async () => {
    const reclaim = reclaimer(1 << 20);
    // 40 MB in chunks of 64 KiB, as a pipe delivers them, each dropped at once
    const count = await minorCollections(() => {
      for (let i = 0; i < 640; i++) reclaim(Buffer.allocUnsafeSlow(64 << 10).length);
    });
    // (V8 may collect on its own as well, never less)
    expect(count).toBeGreaterThanOrEqual(40);
  });

  it('counts the bytes across calls, not the calls', async () => {
    const reclaim = reclaimer(1 << 20);
    const count = await minorCollections(() => {
      for (let i = 0; i < 10; i++) reclaim(5 << 20);
    });
    expect(count).toBeGreaterThanOrEqual(10);
  });
});
