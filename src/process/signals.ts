import { constants as osConstants } from 'node:os';

// SIGINT, SIGTERM and SIGHUP (Ctrl-C, kill, a closed terminal) while
// dcache is busy. While a command runs, they are passed on to it, and
// dcache waits for it to end. Otherwise what dcache holds (locks) is given
// back, and dcache ends with 128 + the signal's number.

export const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type Interrupt = (typeof INTERRUPTS)[number];

export interface Scope {
  dispose(): void;
}

export interface Interrupts {
  // While open, a signal is handed to `forward` (a running command).
  forwardTo(forward: (signal: Interrupt) => void): Scope;
  // While open, and nothing is being forwarded, a signal runs `cleanup`,
  // then ends the process.
  cleanUpWith(cleanup: () => Promise<void>): Scope;
}

export function exitCodeOf(signal: string): number {
  return 128 + (osConstants.signals[signal as keyof typeof osConstants.signals] ?? 0);
}

type Handler = { kind: 'forward'; forward: (signal: Interrupt) => void } | { kind: 'cleanup'; cleanup: () => Promise<void> };

// The process's own signals. The handlers are installed only while a scope
// is open, so that otherwise a signal ends dcache at once, as by default.
export function processInterrupts(exit: (code: number) => void): Interrupts {
  const stack: Handler[] = [];
  let ending = false;
  const onSignal = (signal: Interrupt) => {
    const top = stack.at(-1);
    if (top?.kind === 'forward') {
      top.forward(signal);
      return;
    }
    // A second signal while cleaning up ends the process at once.
    if (ending) return exit(exitCodeOf(signal));
    ending = true;
    const cleanups = stack.filter((h) => h.kind === 'cleanup').reverse();
    void (async () => {
      for (const handler of cleanups) await handler.cleanup().catch(() => {});
      exit(exitCodeOf(signal));
    })();
  };
  const open = (handler: Handler): Scope => {
    if (stack.length === 0) for (const signal of INTERRUPTS) process.on(signal, onSignal);
    stack.push(handler);
    let open = true;
    return {
      dispose: () => {
        if (!open) return;
        open = false;
        stack.splice(stack.indexOf(handler), 1);
        if (stack.length === 0) for (const signal of INTERRUPTS) process.off(signal, onSignal);
      },
    };
  };
  return {
    forwardTo: (forward) => open({ kind: 'forward', forward }),
    cleanUpWith: (cleanup) => open({ kind: 'cleanup', cleanup }),
  };
}
