import type { BlobHash, CacheKey } from '../hash.js';
import { isHash64, isSha256 } from '../hash.js';
import type { KeyMaterial } from './key.js';
import { KEY_FORMAT } from './key.js';
import type { Result } from '../errors.js';
import type { OutputRecord } from '../process/output-files.js';
import type { Fingerprint } from '../sources/watch.js';
import { fail, ok } from '../errors.js';

// 2: blobs, stdin and environment values hashed with SHA-256; watched
// sources named by an id.
export const MANIFEST_FORMAT = 2;

export interface BlobRef {
  hash: BlobHash;
  size: number;
}

// One recorded run. A manifest names its blobs by hash and size; it becomes
// visible only after every blob it names is complete on disk.
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
}

export type ManifestProblem =
  | { reason: 'garbled'; detail: string }
  | { reason: 'future-format'; format: unknown };

// Checks an untrusted parsed manifest field by field. A manifest is data
// from disk (or, later, from another machine): nothing in it is assumed.
export function validateManifest(value: unknown): Result<Manifest, ManifestProblem> {
  const garbled = (detail: string) => fail<ManifestProblem>({ reason: 'garbled', detail });
  if (!isRecord(value)) return garbled('not an object');
  if (value.format !== MANIFEST_FORMAT) {
    return typeof value.format === 'number' && value.format > MANIFEST_FORMAT
      ? fail({ reason: 'future-format', format: value.format })
      : garbled(`format ${describeValue(value.format)}`);
  }
  if (!isHash64(value.key)) return garbled('key');
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
  if (!Array.isArray(value.outputs) || !value.outputs.every(isOutputRecord)) return garbled('outputs');
  if (!Array.isArray(value.validators) || !value.validators.every(isFingerprint)) return garbled('validators');
  return ok(value as unknown as Manifest);
}

function isKeyMaterial(v: unknown): v is KeyMaterial {
  return (
    isRecord(v) &&
    v.format === KEY_FORMAT &&
    typeof v.shell === 'boolean' &&
    isStringArray(v.argv) &&
    v.argv.length > 0 &&
    (v.cwd === null || typeof v.cwd === 'string') &&
    Array.isArray(v.env) &&
    v.env.every(
      (pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && (pair[1] === null || typeof pair[1] === 'string'),
    ) &&
    (v.stdin === null || typeof v.stdin === 'string') &&
    isStringArray(v.outputs) &&
    (v.extra === null || typeof v.extra === 'string')
  );
}

// Only the shape is checked here; whether a path may be written is decided
// at restore time (isSafeOutputPath), against the declared outputs.
function isOutputRecord(v: unknown): v is OutputRecord {
  if (!isRecord(v) || typeof v.path !== 'string') return false;
  const isMode = (m: unknown) => Number.isInteger(m) && (m as number) >= 0 && (m as number) <= 0o7777;
  switch (v.type) {
    case 'file':
      return isMode(v.mode) && isBlobRef(v.blob);
    case 'dir':
      return isMode(v.mode);
    case 'symlink':
      return typeof v.target === 'string';
    default:
      return false;
  }
}

function isFingerprint(v: unknown): v is Fingerprint {
  if (!isRecord(v) || typeof v.source !== 'string' || typeof v.id !== 'string') return false;
  const isText = (x: unknown) => x === null || typeof x === 'string';
  switch (v.kind) {
    case 'path':
      return (
        Array.isArray(v.files) &&
        v.files.every(
          (f) =>
            isRecord(f) &&
            typeof f.path === 'string' &&
            (isCount(f.size) || f.size === -1) &&
            typeof f.mtimeMs === 'number' &&
            isSha256(f.hash),
        )
      );
    case 'url':
      return isText(v.etag) && isText(v.lastModified) && isText(v.contentLength) && (v.bodyHash === null || isSha256(v.bodyHash));
    case 'cmd':
      return Number.isInteger(v.exitCode) && isSha256(v.stdoutHash);
    case 'unknown':
      return v.of === 'path' || v.of === 'url' || v.of === 'cmd';
    default:
      return false;
  }
}

export function isBlobRef(v: unknown): v is BlobRef {
  return isRecord(v) && isSha256(v.hash) && isCount(v.size);
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
  const files = m.outputs.flatMap((o) => (o.type === 'file' ? [o.blob] : []));
  const refs = [m.stdout, m.stderr, m.order, ...files].filter((r): r is BlobRef => r !== null);
  const seen = new Set<string>();
  return refs.filter((r) => !seen.has(r.hash) && seen.add(r.hash));
}
