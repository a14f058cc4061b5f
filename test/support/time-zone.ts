import { afterEach, beforeEach } from 'vitest';

// Runs each test of the enclosing block with process.env.TZ set to `zone`.
// Node re-reads TZ whenever it is assigned, so Date's local methods (which the
// clock and the daily policy use) follow it; the old value is put back after.
export function useTimeZone(zone: string): void {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.TZ;
    process.env.TZ = zone;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });
}

// An instant written with its offset, so each expected value shows the local
// wall clock it stands for, independently of the code under test.
export function at(isoWithOffset: string): number {
  const instant = Date.parse(isoWithOffset);
  if (Number.isNaN(instant)) throw new Error(`bad test instant ${isoWithOffset}`);
  return instant;
}
