import type { Reporter } from '../ports/reporter.js';
import type { Call } from './call.js';
import type { EngineDeps, Recipe } from './recipe.js';
import type { SharedTier } from '../ports/tiers.js';

// One call of getOrRecord in progress: the call, how its values are
// produced and replayed, what the front end lends it, and its looks at the
// shared cache. The parts of the story (replay, wait, record) take it.
export interface Flow<R> {
  readonly call: Call;
  readonly recipe: Recipe<R>;
  readonly deps: EngineDeps;
  readonly reporter: Reporter;
  readonly shared: SharedLooks | null;
}

// A call's looks at the shared cache (see shared-looks.ts).
export interface SharedLooks {
  readonly tier: SharedTier;
  // a fresh entry of the shared cache, pulled and replayed; null if none
  pull<R>(flow: Flow<R>): Promise<R | null>;
  // whether the machine waited for has shared the entry yet
  hasFresh<R>(flow: Flow<R>, now?: boolean): Promise<boolean>;
}

// A blob proved bad after some of the value was out: the call fails.
export class BrokenReplay extends Error {
  constructor(readonly detail: string) {
    super(detail);
  }
}
