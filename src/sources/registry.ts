import { parseDuration } from '../policy/duration.js';
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import type { Fingerprint } from '../schema/fingerprint.js';
import { UNCHECKED } from '../schema/fingerprint.js';
import { azureKind, gcsKind, s3Kind } from './cloud-object.js';
import { commandKind, commandSource } from './command.js';
import { pathKind } from './path.js';
import type { Probe, ProbeContext, SourceKind, WatchSource } from './source.js';
import { SourceError } from './source.js';
import { urlKind } from './url.js';

// The kinds of watched source this version knows, in the order a --watch
// value is offered to them (a path takes whatever no other kind claims).
const KINDS: readonly SourceKind[] = [urlKind, s3Kind, gcsKind, azureKind, commandKind, pathKind];

// What --watch takes, for the messages that refuse a value.
export const WATCH_FORMS =
  'give a local file, directory or glob, an http(s):// URL, or an object, a prefix (ending in /) or a glob in s3://, gs:// or az://';

export const DEFAULT_WATCH_TIMEOUT_MS = 10_000;
const MAX_WATCH_TIMEOUT_MS = 60 * 60 * 1000;

export interface WatchPlan {
  sources: WatchSource[];
  timeoutMs: number;
}

export function kindOf(kind: string): SourceKind | undefined {
  return KINDS.find((k) => k.kind === kind);
}

// Checks --watch, --watch-cmd and --watch-timeout before anything runs.
export function parseWatch(
  watch: readonly string[],
  watchCmd: readonly string[],
  timeout: string | undefined,
): Result<WatchPlan, string> {
  const sources: WatchSource[] = [];
  for (const given of watch) {
    if (given.trim() === '') return fail(`--watch '${given}' is empty; ${WATCH_FORMS}`);
    const parsed = parseOne(given);
    if (!parsed.ok) return parsed;
    sources.push(parsed.value);
  }
  for (const command of watchCmd) {
    const parsed = commandSource(command);
    if (!parsed.ok) return parsed;
    sources.push(parsed.value);
  }
  let timeoutMs = DEFAULT_WATCH_TIMEOUT_MS;
  if (timeout !== undefined) {
    const parsed = parseDuration(timeout);
    if (!parsed.ok) return fail(`--watch-timeout ${parsed.error}`);
    if (parsed.value > MAX_WATCH_TIMEOUT_MS) return fail(`--watch-timeout '${timeout}' is longer than the longest a probe may take, 1h`);
    timeoutMs = parsed.value;
  }
  return ok({ sources, timeoutMs });
}

// The first kind that takes the value; a path takes what no other does.
function parseOne(given: string): Result<WatchSource, string> {
  for (const kind of KINDS) {
    const parsed = kind.parse(given);
    if (parsed !== null) return parsed;
  }
  throw new Error(`no source kind takes '${given}'`);
}

// Fingerprints one source. A failure the kind expects (unreachable, no
// such file, a probe that fails) is "could not be checked"; anything else
// is a bug and is thrown.
export async function probe(source: WatchSource, ctx: ProbeContext, previous?: Fingerprint): Promise<Probe> {
  const kind = kindOf(source.kind);
  if (kind === undefined) throw new Error(`no source kind ${source.kind}`);
  try {
    return await kind.probe(source, ctx, previous);
  } catch (err) {
    if (err instanceof SourceError || isSystemError(err)) return { ok: false, detail: (err as Error).message };
    throw err;
  }
}

// A failure of the operating system (a file that cannot be read, a
// directory that vanished): an expected one, for a watched source.
function isSystemError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

// The fingerprint to record for a probe: an unverifiable source is recorded
// as such, and counts as changed at the next check.
export function recordable(source: WatchSource, result: Probe): Fingerprint {
  return result.ok ? result.fingerprint : { kind: UNCHECKED, source: source.label, id: source.id, of: source.kind };
}

// The recorded fingerprint of a source, if the entry has one.
export function findRecorded(recorded: readonly Fingerprint[], source: WatchSource): Fingerprint | undefined {
  return recorded.find((f) => f.id === source.id && (f.kind === source.kind || (f.kind === UNCHECKED && f.of === source.kind)));
}

// Whether a recorded fingerprint says the source is unchanged: only one of
// the same, known kind can.
export function sameFingerprint(recorded: Fingerprint, current: Fingerprint): boolean {
  if (recorded.kind !== current.kind) return false;
  const kind = kindOf(recorded.kind);
  return kind !== undefined && kind.same(recorded, current);
}

// What changed between two fingerprints of one source, when its kind can
// say more than that they differ.
export function describeFingerprintChange(recorded: Fingerprint, current: Fingerprint): string | null {
  if (recorded.kind !== current.kind) return null;
  return kindOf(recorded.kind)?.describeChange?.(recorded, current) ?? null;
}

// A short human description of a fingerprint, for --explain and show.
export function describeFingerprint(f: Fingerprint): string {
  if (f.kind === UNCHECKED) return 'could not be checked';
  return kindOf(f.kind)?.describe(f) ?? `a ${f.kind} source, which this version of dcache does not know`;
}
