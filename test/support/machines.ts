import { startDcache, type Running } from './running.js';
import type { Result, Sandbox } from './sandbox.js';

// Machines that share a remote cache. A "machine" is a cache directory of
// its own in the same sandbox (same working directory, so keys match).

export interface Machine {
  readonly name: string;
  readonly cacheDir: string;
  // dcache <args> on this machine, waiting for it (blocks the event loop)
  run(args: string[], env?: NodeJS.ProcessEnv): Result;
  // dcache <args> on this machine, as a child the test can watch and kill
  start(args: string[], env?: NodeJS.ProcessEnv): Running;
}

export function machine(box: Sandbox, name: string): Machine {
  const cacheDir = box.path(`cache-${name}`);
  const own = { DCACHE_DIR: cacheDir };
  return {
    name,
    cacheDir,
    run: (args, env = {}) => box.dcache(args, { env: { ...own, ...env } }),
    start: (args, env = {}) => startDcache(box, args, { env: { ...own, ...env } }),
  };
}
