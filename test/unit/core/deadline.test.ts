import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { armDeadline, DeadlineError, deadlineSignal, raceDeadline, STRETCH } from '../../../src/core/deadline.js';

// Holds the event loop for `ms` (and until `until()` holds): from inside, a
// process that the machine does not let run looks just like this.
function holdLoop(ms: number, until: () => boolean = () => true): void {
  const end = performance.now() + ms;
  while (performance.now() < end || !until()) {
    // busy
  }
}

const never = () => new Promise<never>(() => {});
const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe('raceDeadline', () => {
  it('gives up on what does not settle, calling onExpire first', async () => {
    const calls: string[] = [];
    const raced = raceDeadline(never(), 50, () => calls.push('expired'));
    await expect(raced).rejects.toBeInstanceOf(DeadlineError);
    expect(calls).toEqual(['expired']);
  });

  it('settles like the operation when it is in time, and never expires after', async () => {
    let expired = false;
    await expect(raceDeadline(after(10, 'answer'), 200, () => (expired = true))).resolves.toBe('answer');
    await after(300, null);
    expect(expired).toBe(false);
  });

  it('passes the operation’s own failure on', async () => {
    await expect(raceDeadline(Promise.reject(new Error('refused')), 200)).rejects.toThrow('refused');
  });

  it('does not count time the process did not run', async () => {
    const raced = raceDeadline(
      // the answer comes 30 ms after the process runs again
      new Promise<string>((resolve) => setImmediate(() => setTimeout(() => resolve('answer'), 30))),
      200,
    );
    holdLoop(600);
    await expect(raced).resolves.toBe('answer');
  });

  it('gives up once five times its budget has passed on the clock, however little of it the process ran', async () => {
    // the answer would come 100 ms after the process runs again: within the
    // budget of run time, but past the bound on the clock that the guide
    // gives for --remote-timeout (five times 200 ms)
    const raced = raceDeadline(new Promise<string>((resolve) => setImmediate(() => setTimeout(() => resolve('answer'), 100))), 200);
    holdLoop(200 * 5 + 200);
    await expect(raced).rejects.toBeInstanceOf(DeadlineError);
  });

  it('reads an answer that arrived while the process did not run before giving up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcache-deadline-'));
    try {
      const flag = join(dir, 'written');
      const child = spawn('/bin/sh', ['-c', `printf answer; : > '${flag}'; sleep 5`], { stdio: ['ignore', 'pipe', 'ignore'] });
      const answer = new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      const raced = raceDeadline(answer, 50);
      // past the bound in wall time (STRETCH × 50 ms), with the answer in the pipe
      holdLoop(50 * STRETCH + 200, () => existsSync(flag));
      await expect(raced).resolves.toBe('answer');
      child.kill();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up in the end, however little the process runs', async () => {
    // the loop held 30 ms in every 35: the deadline still passes, bounded in wall time
    const holder = setInterval(() => holdLoop(30), 5);
    try {
      await expect(raceDeadline(never(), 50)).rejects.toBeInstanceOf(DeadlineError);
    } finally {
      clearInterval(holder);
    }
  });
});

describe('armDeadline', () => {
  it('calls nothing once cancelled', async () => {
    let expired = false;
    const deadline = armDeadline(20, () => (expired = true));
    deadline.cancel();
    deadline.cancel();
    await after(100, null);
    expect(expired).toBe(false);
  });
});

describe('deadlineSignal', () => {
  it('aborts with a TimeoutError, as AbortSignal.timeout does', async () => {
    const { signal } = deadlineSignal(20);
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    expect((signal.reason as Error).name).toBe('TimeoutError');
  });

  it('does not abort once done', async () => {
    const { signal, done } = deadlineSignal(20);
    done();
    await after(100, null);
    expect(signal.aborted).toBe(false);
  });
});
