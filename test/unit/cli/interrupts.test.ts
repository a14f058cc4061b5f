import fc from 'fast-check';
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

// Any order of scopes opened and closed and signals received: a signal
// reaches the command running at that moment, once; with none running, the
// clean-ups run and the process ends with 128 + the signal's number (at
// once on a second signal); a command started after that first signal gets
// it too, so that no command outlives dcache; and once every scope is
// closed, dcache listens to no signal.
type Op = { kind: 'cleanup' } | { kind: 'forward' } | { kind: 'close'; which: number } | { kind: 'signal'; signal: Interrupt };
const CODES: Record<Interrupt, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

describe('the process interrupts, in any order of events', () => {
  it('never leave a command without the signal that ends dcache, nor forward one twice', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant<Op>({ kind: 'cleanup' }),
      fc.constant<Op>({ kind: 'forward' }),
      fc.nat(5).map<Op>((which) => ({ kind: 'close', which })),
      fc.constantFrom<Interrupt>('SIGINT', 'SIGTERM', 'SIGHUP').map<Op>((signal) => ({ kind: 'signal', signal })),
    );
    const before = process.listenerCount('SIGINT');
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
        const { exits, interrupts } = setUp();
        // the model: the scopes open, newest last; whether dcache is ending, and on what
        const scopes: Array<{ kind: 'cleanup' | 'forward'; scope: Scope; got: Interrupt[] }> = [];
        let ending: Interrupt | null = null;
        const expectedExits: number[] = [];
        try {
          for (const o of ops) {
            if (o.kind === 'cleanup' || o.kind === 'forward') {
              const entry = { kind: o.kind, scope: undefined as unknown as Scope, got: [] as Interrupt[] };
              entry.scope = o.kind === 'cleanup' ? interrupts.cleanUpWith(async () => {}) : interrupts.forwardTo((signal) => entry.got.push(signal));
              scopes.push(entry);
              await tick();
              // a command started while dcache ends gets the signal at once
              if (o.kind === 'forward' && ending !== null) expect(entry.got).toEqual([ending]);
              else expect(entry.got).toEqual([]);
              entry.got.length = 0;
            } else if (o.kind === 'close') {
              if (scopes.length === 0) continue;
              const [closed] = scopes.splice(o.which % scopes.length, 1);
              closed!.scope.dispose();
            } else {
              if (scopes.length === 0) continue;
              const top = scopes.at(-1)!;
              process.emit(o.signal, o.signal);
              await tick();
              if (top.kind === 'forward') {
                expect(top.got).toEqual([o.signal]);
                top.got.length = 0;
              } else if (ending === null) {
                ending = o.signal;
                expectedExits.push(CODES[o.signal]);
              } else {
                expectedExits.push(CODES[o.signal]);
              }
              // no other command was handed it
              for (const other of scopes) if (other !== top) expect(other.got).toEqual([]);
            }
            expect(exits).toEqual(expectedExits);
          }
        } finally {
          // (closed whatever happened, so that a failing run leaves no listener to the next)
          for (const { scope } of scopes.splice(0)) scope.dispose();
        }
        expect(process.listenerCount('SIGINT')).toBe(before);
      }),
      { numRuns: 300, seed: 30 },
    );
  });
});
