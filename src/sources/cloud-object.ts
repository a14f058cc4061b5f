import { CloudError } from '../cloud/cloud-error.js';
import type { ListedObject, ObjectAddress } from '../cloud/object-store.js';
import { openObjectStore, parseObjectUrl } from '../cloud/object-store.js';
import { DeadlineError, raceDeadline } from '../core/deadline.js';
import { fail, ok } from '../core/errors.js';
import { displayHash, hashBytes, isSha256 } from '../core/hash.js';
import { formatSize, formatSizePair } from '../core/size.js';
import type { Fingerprint } from '../schema/fingerprint.js';
import type { Probe, ProbeContext, SourceKind, WatchSource } from './source.js';
import { SourceError } from './source.js';

// An object, a prefix or a glob in S3 (s3://), Google Cloud Storage (gs://)
// or Azure Blob Storage (az://), checked through the cloud's own API: an
// object by its ETag, version (or generation), size and last-modified time;
// a prefix (ending in /) or a glob over keys by a hash of its sorted
// listing of (key, ETag, size), one paginated listing per check.

// Each cloud's own name for a missing object.
const NOT_FOUND = { s3: 'NoSuchKey', gs: 'notFound', az: 'BlobNotFound' } as const;

// A listing this short is kept whole, so --explain can say what changed.
const KEPT_LISTING = 100;

export interface ObjectFingerprint extends Fingerprint {
  etag: string | null;
  version: string | null;
  size: number;
  lastModified: string | null;
}

export interface ListingFingerprint extends Fingerprint {
  count: number;
  listing: string;
  // [key, etag, size] of each object, when there are at most KEPT_LISTING
  objects: Array<[string, string | null, number]> | null;
}

function cloudKind(cloud: ObjectAddress['cloud'], scheme: string): SourceKind {
  return {
    kind: cloud,

    // Anything that starts with the scheme is this kind's, or a usage error
    // that says what is wrong with it and what would be accepted: a path
    // kind taking `s3://` would answer that s3:// URLs can be watched.
    parse(given) {
      if (!given.toLowerCase().startsWith(scheme)) return null;
      const forms = acceptedForms(scheme, cloud === 'az' ? 'container' : 'bucket');
      if (!given.slice(scheme.length).startsWith('//')) return fail(`--watch '${given}' lacks the two slashes of ${scheme}//; ${forms}`);
      const address = parseObjectUrl(given);
      if (address === null || address.bucket === '') return fail(`--watch '${given}' names no ${cloud === 'az' ? 'container' : 'bucket'}; ${forms}`);
      return ok({ kind: cloud, source: given, label: given, id: `${cloud}:${address.bucket}/${address.key}` });
    },

    probe: (source, ctx) => probeObject(cloud, source, ctx),

    same(recorded, current) {
      const a = readFingerprint(recorded);
      const b = readFingerprint(current);
      if (a?.type === 'listing' && b?.type === 'listing') return a.f.listing === b.f.listing;
      if (a?.type === 'object' && b?.type === 'object') {
        return a.f.etag === b.f.etag && a.f.version === b.f.version && a.f.size === b.f.size && a.f.lastModified === b.f.lastModified;
      }
      return false;
    },

    describe(f) {
      const read = readFingerprint(f);
      if (read === null) return 'unreadable';
      if (read.type === 'listing') return `${read.f.count} object${read.f.count === 1 ? '' : 's'}, listing hash ${displayHash(read.f.listing)}`;
      const o = read.f;
      return [
        o.etag !== null ? `ETag ${o.etag}` : null,
        o.version !== null ? `version ${o.version}` : null,
        formatSize(o.size),
        o.lastModified !== null ? `last modified ${o.lastModified}` : null,
      ]
        .filter(Boolean)
        .join(', ');
    },

    describeChange(recorded, current) {
      const ra = readFingerprint(recorded);
      const rb = readFingerprint(current);
      if (ra?.type === 'object' && rb?.type === 'object') {
        const [a, b] = [ra.f, rb.f];
        const differs = (what: string, x: string | null, y: string | null) => (x === y ? null : `${what} ${x ?? 'none'} → ${y ?? 'none'}`);
        const [sizeBefore, sizeNow] = a.size === b.size ? [null, null] : formatSizePair(a.size, b.size);
        return (
          [differs('ETag', a.etag, b.etag), differs('version', a.version, b.version), differs('size', sizeBefore, sizeNow), differs('last modified', a.lastModified, b.lastModified)]
            .filter(Boolean)
            .join(', ') || null
        );
      }
      if (ra?.type !== 'listing' || rb?.type !== 'listing') return null;
      const [a, b] = [ra.f, rb.f];
      if (a.objects === null || b.objects === null) return `${a.count} objects then, ${b.count} now`;
      const before = new Map(a.objects.map(([key, etag, size]) => [key, `${etag}/${size}`]));
      const after = new Map(b.objects.map(([key, etag, size]) => [key, `${etag}/${size}`]));
      const added = [...after.keys()].filter((k) => !before.has(k));
      const removed = [...before.keys()].filter((k) => !after.has(k));
      const changed = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k));
      const part = (what: string, keys: string[]) => (keys.length === 0 ? null : `${what} ${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ` and ${keys.length - 3} more` : ''}`);
      return [part('added', added), part('removed', removed), part('changed', changed)].filter(Boolean).join('; ') || null;
    },
  };
}

// What a --watch of this cloud may be, for the messages that refuse one.
function acceptedForms(scheme: string, bucket: string): string {
  const url = `${scheme}//${bucket}`;
  return `watch an object (${url}/key), a prefix (${url}/prefix/) or a glob over keys (${url}/prefix/*.csv)`;
}

export const s3Kind = cloudKind('s3', 's3:');
export const gcsKind = cloudKind('gs', 'gs:');
export const azureKind = cloudKind('az', 'az:');

// One check, within --watch-timeout in all (credentials, every page) of the
// process's running time (src/deadline.ts). At
// the deadline the request in flight is aborted, so that a listing of many
// pages does not go on behind the answer.
async function probeObject(cloud: ObjectAddress['cloud'], source: WatchSource, ctx: ProbeContext): Promise<Probe> {
  const stop = new AbortController();
  try {
    return await raceDeadline(checkObject(cloud, source, ctx, stop.signal), ctx.timeoutMs, () => stop.abort());
  } catch (err) {
    if (err instanceof DeadlineError) throw new SourceError(`${source.label}: no answer within ${ctx.timeoutMs / 1000} s (Timeout)`);
    throw err;
  }
}

async function checkObject(cloud: ObjectAddress['cloud'], source: WatchSource, ctx: ProbeContext, signal: AbortSignal): Promise<Probe> {
  const address = parseObjectUrl(source.source)!;
  try {
    const store = await openObjectStore(cloud, ctx.env, ctx.timeoutMs, ctx.wallNow);
    const glob = globStart(address.key);
    if (glob === null && address.key !== '' && !address.key.endsWith('/')) {
      const found = await store.stat(address.bucket, address.key, signal);
      if (found === null) throw new SourceError(`${source.label}: no such object (${NOT_FOUND[cloud]})`);
      const fingerprint: ObjectFingerprint = { kind: cloud, source: source.label, id: source.id, ...found };
      return { ok: true, fingerprint };
    }
    const prefix = glob === null ? address.key : address.key.slice(0, glob);
    let objects = await store.list(address.bucket, prefix, signal);
    if (glob !== null) {
      const picomatch = (await import('picomatch')).default;
      const matches = picomatch(address.key, { dot: true });
      objects = objects.filter((o) => matches(o.key));
    }
    return { ok: true, fingerprint: listingFingerprint(cloud, source, objects) };
  } catch (err) {
    if (err instanceof CloudError) throw new SourceError(`${source.label}: ${err.message}`);
    throw err;
  }
}

export function listingFingerprint(cloud: string, source: WatchSource, objects: ReadonlyArray<Pick<ListedObject, 'key' | 'etag' | 'size'>>): ListingFingerprint {
  const sorted = objects.map((o): [string, string | null, number] => [o.key, o.etag, o.size]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    kind: cloud,
    source: source.label,
    id: source.id,
    count: sorted.length,
    listing: hashBytes(JSON.stringify(sorted)),
    objects: sorted.length <= KEPT_LISTING ? sorted : null,
  };
}

// Where the glob part of a key starts, or null when it has none.
function globStart(key: string): number | null {
  const at = key.search(/[*?[\]{}]/);
  return at === -1 ? null : at;
}

// A recorded fingerprint as this kind's, if it is well-formed.
function readFingerprint(f: Fingerprint): { type: 'object'; f: ObjectFingerprint } | { type: 'listing'; f: ListingFingerprint } | null {
  const text = (x: unknown) => x === null || typeof x === 'string';
  if (typeof f.listing === 'string') {
    const objects = f.objects === null || (Array.isArray(f.objects) && f.objects.every((o) => Array.isArray(o) && o.length === 3));
    return isSha256(f.listing) && Number.isSafeInteger(f.count) && objects ? { type: 'listing', f: f as ListingFingerprint } : null;
  }
  return text(f.etag) && text(f.version) && Number.isSafeInteger(f.size) && text(f.lastModified) ? { type: 'object', f: f as ObjectFingerprint } : null;
}
