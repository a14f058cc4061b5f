import { hostname } from 'node:os';
import type { Host } from '../../src/engine/host.js';

// The Host of the test process, as the CLI would build it.
export function testHost(overrides: Partial<Host> = {}): Host {
  return {
    hostname: hostname(),
    pid: process.pid,
    uid: process.getuid?.() ?? null,
    wallNow: () => Date.now(),
    elapsedMs: () => process.uptime() * 1000,
    isRunning: (pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
    ...overrides,
  };
}
