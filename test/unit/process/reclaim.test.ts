import { describe, expect, it } from 'vitest';
import { reclaimer } from '../../../src/process/reclaim.js';

// The chunks of a recording are garbage once written: the reclaimer frees
// their bytes every so many bytes instead of letting tens of MB pile up.

describe('the reclaimer', () => {
  it('frees the bytes of chunks that are no longer held, once enough have passed', () => {
    const reclaim = reclaimer(8 << 20);
    const before = process.memoryUsage().arrayBuffers;
    let most = 0;
    for (let i = 0; i < 1024; i++) {
      // a chunk as a pipe delivers it: 64 KiB of its own, dropped at once
      const chunk = Buffer.allocUnsafeSlow(64 << 10);
      chunk[0] = i;
      reclaim(chunk.length);
      most = Math.max(most, process.memoryUsage().arrayBuffers - before);
    }
    // 64 MB went through; V8 alone lets 32 to 64 MB of such garbage pile up
    expect(most).toBeLessThan(16 << 20);
  });

  it('does nothing until its share of bytes has passed', () => {
    const reclaim = reclaimer(1 << 30);
    expect(() => reclaim(1)).not.toThrow();
  });
});
