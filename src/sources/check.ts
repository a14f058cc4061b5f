import type { Reporter } from '../ports/reporter.js';
import type { Fingerprint } from '../schema/fingerprint.js';
import { UNCHECKED } from '../schema/fingerprint.js';
import { describeFingerprintChange, findRecorded, probe, sameFingerprint } from './registry.js';
import type { Probe, ProbeContext, WatchSource } from './source.js';

// One watched source as checked for this call.
export interface SourceCheck {
  source: WatchSource;
  recorded: Fingerprint | undefined;
  current: Probe;
  unchanged: boolean;
}

// Probes every watched source in parallel against its recorded fingerprint.
// With trustFileTimes, a local file whose size and mtime are those recorded
// keeps its recorded hash unread; without (another machine's entry), every
// file is read.
export async function checkSources(
  sources: readonly WatchSource[],
  recorded: readonly Fingerprint[],
  ctx: ProbeContext,
  reporter: Reporter,
  trustFileTimes = true,
): Promise<SourceCheck[]> {
  return Promise.all(
    sources.map(async (source): Promise<SourceCheck> => {
      const before = findRecorded(recorded, source);
      const current = await probe(source, ctx, trustFileTimes ? before : undefined);
      if (current.ok && current.warning) reporter.warnOnce(`source:${source.id}`, current.warning);
      // A source that cannot be checked counts as changed: say why, once,
      // even with -q (with no credentials, every run downloads again).
      if (!current.ok) reporter.alert(`unchecked:${source.id}`, `cannot check a watched source, so it counts as changed: ${current.detail}`);
      const unchanged = before !== undefined && current.ok && sameFingerprint(before, current.fingerprint);
      return { source, recorded: before, current, unchanged };
    }),
  );
}

// Why a check says the source changed, for -v.
export function describeChange(check: SourceCheck): string {
  const label = check.source.label;
  if (!check.current.ok) return `${label} could not be checked: ${check.current.detail}`;
  if (check.recorded === undefined) return `${label} was not watched when the entry was recorded`;
  if (check.recorded.kind === UNCHECKED) return `${label} could not be checked when the entry was recorded`;
  const what = describeFingerprintChange(check.recorded, check.current.fingerprint);
  return what === null ? `${label} changed` : `${label} changed: ${what}`;
}
