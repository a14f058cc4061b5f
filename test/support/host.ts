import { processHost } from '../../src/cli/process-host.js';
import type { Host } from '../../src/engine/host.js';

// The Host of the test process, as the CLI builds it, with what a test changes.
export function testHost(overrides: Partial<Host> = {}): Host {
  return { ...processHost(), ...overrides };
}
