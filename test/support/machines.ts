import { beforeEach } from './fixture.js';
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

// Machines a and b of each test, sharing a remote: the same two objects
// for the whole file, each the current test's machine.
export function twoMachines(): { a: Machine; b: Machine } {
  let current: { a: Machine; b: Machine } | null = null;
  beforeEach(({ box }) => {
    current = { a: machine(box, 'a'), b: machine(box, 'b') };
  });
  const of = (name: 'a' | 'b'): Machine => {
    const now = () => {
      if (current === null) throw new Error('twoMachines: used outside a test');
      return current[name];
    };
    return {
      name,
      get cacheDir() {
        return now().cacheDir;
      },
      run: (args, env) => now().run(args, env),
      start: (args, env) => now().start(args, env),
    };
  };
  return { a: of('a'), b: of('b') };
}

// A script that says which run of it this is ("report 2"), so that a replay shows.
export function numberedReport(box: Sandbox): { path: string; runs: () => number } {
  return box.counter('report.sh', `printf 'report %s\\n' "$(wc -l < '${box.path('report.sh.count')}' | tr -d ' ')"`);
}
