import type { SharedTier } from '../ports/tiers.js';
import type { Flow, SharedLooks as Looks } from './flow.js';
import { lookUpShared, pullShared } from './lookup.js';
import { replayHit } from './replay.js';

// While waiting for another machine, how often the shared cache is asked
// whether the entry has arrived.
const SHARED_LOOK_MS = 1000;

// A call's looks at the shared cache: pulling a fresh entry and replaying
// it, and, while waiting for another machine, asking (not too often)
// whether it has shared the entry yet.
export class SharedLooks implements Looks {
  // An entry pulled from the shared cache that could not be replayed
  // (refused output paths, say) is not pulled again.
  private usable = true;
  private lastLook = 0;

  constructor(readonly tier: SharedTier) {}

  // A fresh entry of the shared cache, pulled and replayed; null if none.
  async pull<R>(flow: Flow<R>): Promise<R | null> {
    if (flow.call.force || !this.usable) return null;
    const pulled = await pullShared(flow.call, this.tier, flow.reporter);
    if (pulled === null) return null;
    const replayed = await replayHit(flow, pulled.manifest, pulled.verdict.expiresAt, true);
    if (replayed === null) this.usable = false;
    return replayed;
  }

  // Has the other machine shared the entry yet? At most once a
  // SHARED_LOOK_MS, unless the lock asks for an answer now.
  async hasFresh<R>(flow: Flow<R>, now = false): Promise<boolean> {
    const at = flow.call.host.wallNow();
    if (!now && at - this.lastLook < SHARED_LOOK_MS) return false;
    this.lastLook = at;
    return (await lookUpShared(flow.call, this.tier, flow.reporter)) !== null;
  }
}
