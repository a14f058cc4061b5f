import type { CacheKey } from '../core/hash.js';
import { isHash64 } from '../core/hash.js';
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import type { Fingerprint } from './fingerprint.js';
import { isFingerprint } from './fingerprint.js';
import type { KeyMaterial } from './key.js';
import { isForeignMaterial, isKeyMaterial } from './key.js';
import type { BlobRef, OutputRecord } from './output-record.js';
import type { FetchedObject } from './fetched-object.js';
import { isFetchedObject } from './fetched-object.js';
import { isBlobRef, isForeignRecord, isOutputRecord } from './output-record.js';

export type { BlobRef, OutputRecord } from './output-record.js';
export type { FetchedObject } from './fetched-object.js';

// 2: blobs, stdin and environment values hashed with SHA-256; watched
// sources named by an id; the zone of the policies kept.
export const MANIFEST_FORMAT = 2;

// One recorded run. A manifest names its blobs by hash and size; it becomes
// visible only after every blob it names is complete on disk. Fields this
// version does not know (a newer one wrote them) are kept as they are.
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  key: CacheKey;
  material: KeyMaterial;
  // when the run started, epoch milliseconds
  recordedAt: number;
  durationMs: number;
  exitCode: number;
  // the policies given when it was recorded (the caller's policies decide freshness)
  policies: string[];
  // the zone they were given in (--tz, or TZ), null for the system's own
  tz: string | null;
  stdout: BlobRef | null;
  stderr: BlobRef | null;
  // how stdout and stderr interleaved; present only when both hold bytes
  order: BlobRef | null;
  // the declared output files and directories, captured after exit 0
  outputs: OutputRecord[];
  // fingerprints of the watched sources, taken just before the run
  validators: Fingerprint[];
  // The remote it was pulled from (its label), on an entry copied from one:
  // its links are judged and its modes masked again at every restore, as
  // they were when it came (see restoreOutputs). Absent on an entry
  // recorded here.
  origin?: string;
  // On the entry of a `dcache fetch` (key material of kind 'fetch'): each
  // object fetched, what it was and where it was written. Absent otherwise.
  fetched?: FetchedObject[];
  // On a fetch's entry, after a later fetch failed part-way: the objects it
  // did download, not put in place. The next fetch takes their blobs rather
  // than downloading them again.
  pending?: FetchedObject[];
}

// Why a manifest cannot be used. `garbled` is damage: the entry may be
// dropped. `foreign` (a newer format, a kind of key material or output this
// version does not know) is not: the entry is a miss and is left alone, so
// versions that share a cache do not destroy each other's entries.
export type ManifestProblem = { reason: 'garbled'; detail: string } | { reason: 'foreign'; detail: string };

// Checks an untrusted parsed manifest field by field. A manifest is data
// from disk or from another machine: nothing in it is assumed.
export function validateManifest(value: unknown): Result<Manifest, ManifestProblem> {
  const garbled = (detail: string) => fail<ManifestProblem>({ reason: 'garbled', detail });
  const foreign = (detail: string) => fail<ManifestProblem>({ reason: 'foreign', detail });
  if (!isRecord(value)) return garbled('not an object');
  if (value.format !== MANIFEST_FORMAT) {
    return typeof value.format === 'number' && Number.isInteger(value.format) && value.format > MANIFEST_FORMAT
      ? foreign(`manifest of a newer format (${value.format})`)
      : garbled(`format ${describeValue(value.format)}`);
  }
  if (!isHash64(value.key)) return garbled('key');
  if (isForeignMaterial(value.material)) return foreign(`key material of a kind this version does not know`);
  if (!isKeyMaterial(value.material)) return garbled('key material');
  if (!isCount(value.recordedAt)) return garbled('recordedAt');
  if (!isCount(value.durationMs)) return garbled('durationMs');
  if (!Number.isInteger(value.exitCode) || (value.exitCode as number) < 0 || (value.exitCode as number) > 255) {
    return garbled('exitCode');
  }
  if (!isStringArray(value.policies)) return garbled('policies');
  if (value.tz !== null && typeof value.tz !== 'string') return garbled('tz');
  for (const name of ['stdout', 'stderr', 'order'] as const) {
    if (value[name] !== null && !isBlobRef(value[name])) return garbled(name);
  }
  if (value.order !== null && (value.stdout === null || value.stderr === null)) return garbled('order without two streams');
  if (!Array.isArray(value.outputs)) return garbled('outputs');
  for (const record of value.outputs) {
    if (isOutputRecord(record)) continue;
    if (isForeignRecord(record)) return foreign(`an output of a type this version does not know`);
    return garbled('outputs');
  }
  if (!Array.isArray(value.validators) || !value.validators.every(isFingerprint)) return garbled('validators');
  if (value.origin !== undefined && typeof value.origin !== 'string') return garbled('origin');
  if (value.fetched !== undefined && !(Array.isArray(value.fetched) && value.fetched.every(isFetchedObject))) return garbled('fetched');
  if (value.pending !== undefined && !(Array.isArray(value.pending) && value.pending.every(isFetchedObject))) return garbled('pending');
  return ok(value as unknown as Manifest);
}

// A short description of an untrusted value, safe for any shape (a deeply
// nested one would overflow JSON.stringify's stack).
function describeValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((item) => typeof item === 'string');
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// Every blob a manifest needs, each once.
export function blobsOf(m: Manifest): BlobRef[] {
  const files = [...m.outputs.flatMap((o) => (o.type === 'file' ? [o.blob] : [])), ...[...(m.fetched ?? []), ...(m.pending ?? [])].map((o) => o.blob)];
  const refs = [m.stdout, m.stderr, m.order, ...files].filter((r): r is BlobRef => r !== null);
  const seen = new Set<string>();
  return refs.filter((r) => !seen.has(r.hash) && seen.add(r.hash));
}
