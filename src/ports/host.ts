// What the engine needs to know of the process and machine it runs on. The
// CLI builds it from process.* and the real clock; tests give their own.
// Nothing below the CLI reads those itself.
export interface Host {
  readonly hostname: string;
  readonly pid: number;
  // null where there are no user ids
  readonly uid: number | null;
  // the file mode creation mask, read when needed: what a restore from a
  // remote clears from the modes it was given
  umask(): number;
  // the real clock, in ms since 1970: leases and the age of temp files are
  // about real time, whatever DCACHE_NOW says
  wallNow(): number;
  // ms since this process started: how long a run took, what a hit cost
  elapsedMs(): number;
  // whether a process of this host runs
  isRunning(pid: number): boolean;
}
