import { exitCodeOf, INTERRUPTS, type Interrupt, type Interrupts, type Scope } from '../ports/interrupts.js';

// The process's own SIGINT, SIGTERM and SIGHUP, as the Interrupts the
// engine and the command runner use.

type Handler = { kind: 'forward'; forward: (signal: Interrupt) => void } | { kind: 'cleanup'; cleanup: () => Promise<void> };

// The handlers are installed only while a scope is open, so that otherwise a
// signal ends dcache at once, as by default.
export function processInterrupts(exit: (code: number) => void): Interrupts {
  const stack: Handler[] = [];
  // the signal being acted on: the clean-up runs, and the process ends
  let ending: Interrupt | null = null;
  const onSignal = (signal: Interrupt) => {
    const top = stack.at(-1);
    if (top?.kind === 'forward') {
      top.forward(signal);
      return;
    }
    // A second signal while cleaning up ends the process at once.
    if (ending !== null) return exit(exitCodeOf(signal));
    ending = signal;
    const cleanups = stack.filter((h) => h.kind === 'cleanup').reverse();
    void (async () => {
      for (const handler of cleanups) await handler.cleanup().catch(() => {});
      exit(exitCodeOf(signal));
    })();
  };
  const open = (handler: Handler): Scope => {
    if (stack.length === 0) for (const signal of INTERRUPTS) process.on(signal, onSignal);
    stack.push(handler);
    // A command started while the clean-up of an earlier signal runs (the
    // call went on meanwhile) gets that signal at once: dcache is about to
    // end, and the command, in a process group of its own, would outlive it.
    if (ending !== null && handler.kind === 'forward') {
      const signal = ending;
      queueMicrotask(() => handler.forward(signal));
    }
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
