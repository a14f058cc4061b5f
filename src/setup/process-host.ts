import { hostname } from 'node:os';
import type { Host } from '../ports/host.js';

// The Host of this process: its pid, its machine, its user, the real clock.
export function processHost(): Host {
  return {
    // read when a lock is taken: node:os is not loaded on a hit
    get hostname() {
      return hostname();
    },
    pid: process.pid,
    uid: process.getuid?.() ?? null,
    umask: () => process.umask(),
    wallNow: () => Date.now(),
    // process.uptime() counts from the process start, without loading
    // perf_hooks on the hit path (performance.now() would)
    elapsedMs: () => process.uptime() * 1000,
    isRunning,
  };
}

// Whether a process of this host runs (EPERM: it does, as another user).
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
