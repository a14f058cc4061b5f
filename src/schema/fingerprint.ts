// What a watched source looked like when an entry was recorded. Every
// fingerprint names its source by `source` (its label, for people, with no
// secret in it) and `id` (for matching it again); `kind` says which source
// kind made it, and the rest is that kind's own. A kind this version does
// not know, or a fingerprint its kind cannot read, is kept as it is: it
// cannot be compared, so the source counts as changed, and the entry is
// never damaged by being read.
export interface Fingerprint {
  kind: string;
  source: string;
  id: string;
  [field: string]: unknown;
}

// The kind of a source that could not be checked when the entry was
// recorded: it counts as changed at the next check.
export const UNCHECKED = 'unknown';

export function isFingerprint(v: unknown): v is Fingerprint {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const f = v as Record<string, unknown>;
  return typeof f.kind === 'string' && typeof f.source === 'string' && typeof f.id === 'string';
}
