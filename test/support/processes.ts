import { readFileSync } from 'node:fs';

// Processes a test started by way of a script: their pids, whether they are
// gone, and killing what is left.

// A pid written to a file by a test script.
export function readPid(path: string): number {
  return Number(readFileSync(path, 'utf8').trim());
}

// Whether a process is gone. A zombie counts as gone: it has ended and only
// waits for its (new) parent to collect its status.
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

// Kills a process, and the group it leads, if still there (clean-up after a test).
export function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone, or not a group leader
    }
  }
}
