import { processHost } from '../../src/setup/process-host.js';
import type { Host } from '../../src/ports/host.js';

// The Host of the test process, as the CLI builds it, with what a test changes.
export function testHost(overrides: Partial<Host> = {}): Host {
  return { ...processHost(), ...overrides };
}
