import { afterEach, describe, expect, it } from 'vitest';
import { processInterrupts } from '../../../src/cli/interrupts.js';
import type { Interrupt, Scope } from '../../../src/ports/interrupts.js';

// The process's own signals, emitted on `process` (as Node does when one
// arrives), with the exit recorded instead of taken.

const open: Scope[] = [];
afterEach(() => {
  for (const scope of open.splice(0)) scope.dispose();
});

function setUp() {
  const exits: number[] = [];
  const interrupts = processInterrupts((code) => exits.push(code));
  return { exits, interrupts };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('the process interrupts', () => {
  it('hand a signal to the running command, and nothing else happens', async () => {
    const { exits, interrupts } = setUp();
    const forwarded: Interrupt[] = [];
    let cleaned = 0;
    open.push(interrupts.cleanUpWith(async () => void cleaned++));
    open.push(interrupts.forwardTo((signal) => forwarded.push(signal)));
    process.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect({ forwarded, cleaned, exits }).toEqual({ forwarded: ['SIGTERM'], cleaned: 0, exits: [] });
  });

  it('clean up, then end with 128 + the signal, when no command runs', async () => {
    const { exits, interrupts } = setUp();
    let cleaned = 0;
    open.push(interrupts.cleanUpWith(async () => void cleaned++));
    process.emit('SIGINT', 'SIGINT');
    await tick();
    expect({ cleaned, exits }).toEqual({ cleaned: 1, exits: [130] });
  });

  it('end at once on a second signal while the clean-up runs', async () => {
    const { exits, interrupts } = setUp();
    open.push(interrupts.cleanUpWith(() => new Promise(() => {})));
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(exits).toEqual([143]);
  });

  it('pass the signal at once to a command started while the clean-up of that signal runs', async () => {
    const { exits, interrupts } = setUp();
    let finishCleanup = () => {};
    open.push(interrupts.cleanUpWith(() => new Promise<void>((resolve) => (finishCleanup = resolve))));
    process.emit('SIGINT', 'SIGINT');
    // the call went on meanwhile, and starts its command
    const forwarded: Interrupt[] = [];
    open.push(interrupts.forwardTo((signal) => forwarded.push(signal)));
    await tick();
    expect(forwarded).toEqual(['SIGINT']);
    finishCleanup();
    await tick();
    expect(exits).toEqual([130]);
  });

  it('listen to no signal once every scope is closed', () => {
    const { interrupts } = setUp();
    const before = process.listenerCount('SIGINT');
    const scope = interrupts.cleanUpWith(async () => {});
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    scope.dispose();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
