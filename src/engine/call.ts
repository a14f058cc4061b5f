import type { CacheKey } from '../core/hash.js';
import type { Zone } from '../policy/clock.js';
import type { Policy } from '../policy/policy.js';
import type { KeyMaterial } from '../schema/key.js';
import type { WatchPlan } from '../sources/registry.js';
import type { Host } from '../ports/host.js';
import type { LeaseTiming } from '../ports/lease.js';
import type { EntryStore, RemoteSpec, SigningKeys } from '../ports/tiers.js';
import type { Rules } from './decide.js';

// One call of the engine, every option checked: what selects its entry
// (the key), what makes it stale (policies, watched sources), where it is
// stored, and how it behaves. Whoever produces the values (a command, a
// function) supplies the key material.
export interface Call {
  key: CacheKey;
  material: KeyMaterial;
  policies: Policy[];
  zone: Zone;
  // the zone to record with an entry: --tz (or the config's), else TZ, else
  // null for the system's
  zoneName: string | null;
  watch: WatchPlan;
  // where watched paths are relative to, and output files restored
  cwd: string;
  // the environment of probes and commands: dcache's own secrets removed
  commandEnv: NodeJS.ProcessEnv;
  // DCACHE_NOW, or the real clock
  clock(): number;
  host: Host;
  store: EntryStore;
  // the shared cache, from --remote or DCACHE_REMOTE
  remote: RemoteSpec | null;
  // the keys that sign and verify remote entries (DCACHE_SIGNING_KEY)
  signing: SigningKeys | null;
  // single flight's timers (DCACHE_LOCK_*)
  lease: LeaseTiming;
  force: boolean;
  cacheFailures: boolean;
  staleIfError: boolean;
  // --stale-while-revalidate: how long after it went stale an entry is still
  // replayed while a refresh runs in the background; null: not at all
  staleWhileRevalidateMs: number | null;
  // This process is such a background refresh (DCACHE_REFRESH_OF): it runs
  // only if no one else is producing the entry, and records its failure.
  refreshing: boolean;
  // how long a background refresh may run before it is stopped
  // (DCACHE_REFRESH_LIMIT); null: ten times the entry's last run, at least
  // a minute (see refreshLimit)
  refreshLimitMs: number | null;
  explain: boolean;
  // the automatic clean-up's size limit
  maxSize: number;
  // settings that were ignored, to be warned about once
  warnings: string[];
  // the front end's own check of an entry (see Rules)
  vet?: Rules['vet'];
}

// How long a background refresh of an entry that last ran `lastRunMs` may
// run: DCACHE_REFRESH_LIMIT, else ten times its last run, at least a
// minute. Past it the refresh is stopped, and the stale entry stays.
export function refreshLimit(call: Pick<Call, 'refreshLimitMs'>, lastRunMs: number | null): number {
  return call.refreshLimitMs ?? Math.max(REFRESH_LIMIT_FLOOR_MS, 10 * (lastRunMs ?? 0));
}

const REFRESH_LIMIT_FLOOR_MS = 60_000;

