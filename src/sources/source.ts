import type { Result } from '../core/errors.js';
import type { Fingerprint } from '../schema/fingerprint.js';

// A watched source, as a call gives it: `source` is as given (a URL with its
// credentials and signature, to be fetched); `label` is how it is shown and
// stored; `id` names it across calls (a re-signed URL of the same object has
// the same id).
export interface WatchSource {
  kind: string;
  source: string;
  label: string;
  id: string;
}

// A source checked now: its fingerprint (with a warning worth saying once),
// or why it could not be checked.
export type Probe = { ok: true; fingerprint: Fingerprint; warning?: string } | { ok: false; detail: string };

export interface ProbeContext {
  cwd: string;
  // the environment of probes and clouds' credentials: dcache's own secrets removed
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  // the real clock, to sign requests with (whatever DCACHE_NOW says)
  wallNow(): number;
}

// One kind of watched source. Adding a kind is one file implementing this
// and one line in the registry.
export interface SourceKind {
  readonly kind: string;
  // The kind's source for a --watch value, null if it is not of this kind,
  // or a usage error naming the value.
  parse(given: string): Result<WatchSource, string> | null;
  // Fingerprints the source now. `previous` (this kind's, as recorded) lets
  // it skip work that cannot have changed (a file's unchanged size and mtime).
  probe(source: WatchSource, ctx: ProbeContext, previous: Fingerprint | undefined): Promise<Probe>;
  // Whether two fingerprints of this kind say the source is unchanged; false
  // for one this version cannot read.
  same(recorded: Fingerprint, current: Fingerprint): boolean;
  // A short description, for --explain and show.
  describe(f: Fingerprint): string;
  // What changed between two fingerprints, when the kind can say more than
  // that they differ (objects added, removed, changed), for --explain.
  describeChange?(recorded: Fingerprint, current: Fingerprint): string | null;
}

// A failure a kind expects (a source that cannot be checked); anything else
// thrown while probing is a bug.
export class SourceError extends Error {}
