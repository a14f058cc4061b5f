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
