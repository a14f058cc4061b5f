import { createHash } from 'node:crypto';
import { CloudError } from '../cloud/cloud-error.js';
import type { ObjectAddress, ObjectStore } from '../cloud/object-store.js';
import { openObjectStore, parseObjectUrl } from '../cloud/object-store.js';
import { deadlineSignal, watchProgress } from '../core/deadline.js';
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import { formatSize } from '../core/size.js';
import type { ObjectIdentity } from '../schema/fetched-object.js';

// What `dcache fetch` reads: one object, a prefix (ending in /) or a glob
// over keys in s3://, gs:// or az://, through the same clients, credential
// chains and listings as a watched source (cloud-object.ts). Listing says
// what each object is now; a download streams one object's bytes to a sink
// and checks them against the size and the MD5 the store vouches for.

export interface FetchSource {
  cloud: ObjectAddress['cloud'];
  bucket: string;
  // the key (one object), the prefix, or the glob as given
  key: string;
  mode: 'object' | 'prefix' | 'glob';
  // the keys' common start below which paths mirror them: a prefix itself;
  // for a glob, its literal part up to the last '/'
  base: string;
  // how it is shown and keyed: the URL as given (cloud URLs carry no secret)
  label: string;
}

// Each cloud's own name for a missing object.
const NOT_FOUND = { s3: 'NoSuchKey', gs: 'notFound', az: 'BlobNotFound' } as const;

export const FETCH_FORMS = 'give an object (s3://bucket/key), a prefix ending in / (gs://bucket/daily/) or a glob of keys (az://container/daily/*.csv) in s3://, gs:// or az://';

export function parseFetchSource(given: string): Result<FetchSource, string> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(given)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') {
    return fail(`'${given}': dcache fetch reads buckets, not web servers; for a URL, use dcache run -w ${given} -o <file> -- curl -sfo <file> ${given}`);
  }
  if (scheme !== 's3' && scheme !== 'gs' && scheme !== 'az') return fail(`'${given}' is not a bucket URL; ${FETCH_FORMS}`);
  if (!given.slice(scheme.length + 1).startsWith('//')) return fail(`'${given}' lacks the two slashes of ${scheme}://; ${FETCH_FORMS}`);
  const address = parseObjectUrl(given);
  const container = scheme === 'az' ? 'container' : 'bucket';
  if (address === null || address.bucket === '') return fail(`'${given}' names no ${container}; ${FETCH_FORMS}`);
  const glob = address.key.search(/[*?[\]{}]/);
  const label = `${address.cloud}://${address.bucket}/${address.key}`;
  if (glob !== -1) {
    const literal = address.key.slice(0, glob);
    return ok({ ...address, mode: 'glob', base: literal.slice(0, literal.lastIndexOf('/') + 1), label });
  }
  if (address.key === '' || address.key.endsWith('/')) return ok({ ...address, mode: 'prefix', base: address.key, label });
  return ok({ ...address, mode: 'object', base: address.key, label });
}

// An object as the source lists it now.
export interface RemoteObject extends ObjectIdentity {
  // what a read of it names it by (the ETag, or GCS's generation): a read
  // that names another was of a newer upload
  match: string | null;
}

// Why the source could not be read: one line, with the cloud's own code.
export interface SourceFailure {
  detail: string;
}

export interface FetchContext {
  // the environment the clouds' credentials are read from
  env: NodeJS.ProcessEnv;
  // how long one request may take to answer
  timeoutMs: number;
  // the real clock, to sign requests with
  wallNow(): number;
}

// The client of a source's cloud, opened once per fetch.
export async function openSourceStore(source: FetchSource, ctx: FetchContext): Promise<Result<ObjectStore, SourceFailure>> {
  try {
    return ok(await openObjectStore(source.cloud, ctx.env, ctx.timeoutMs, ctx.wallNow));
  } catch (err) {
    if (err instanceof CloudError) return fail({ detail: `${source.label}: ${described(err)}` });
    throw err;
  }
}

// What the source holds now: one object (a HEAD), or every object of the
// prefix or glob (a listing, all its pages). A listing cut short is a
// failure, never a shorter listing: objects missing from it would be
// taken for removed.
// Each request (each page) has the client's own timeout.
export async function listSource(store: ObjectStore, source: FetchSource): Promise<Result<RemoteObject[], SourceFailure>> {
  try {
    if (source.mode === 'object') {
      const found = await store.stat(source.bucket, source.key);
      if (found === null) return fail({ detail: `${source.label}: no such object (${NOT_FOUND[source.cloud]})` });
      // S3 and Azure name an object's state by its ETag; GCS by its generation
      const match = source.cloud === 'gs' ? found.version : found.etag;
      return ok([{ key: source.key, etag: unquote(found.etag), version: found.version, size: found.size, match }]);
    }
    const listed = await store.list(source.bucket, source.mode === 'prefix' ? source.key : source.key.slice(0, source.key.search(/[*?[\]{}]/)));
    let objects = listed;
    if (source.mode === 'glob') {
      const picomatch = (await import('picomatch')).default;
      const matches = picomatch(source.key, { dot: true });
      objects = listed.filter((o) => matches(o.key));
    }
    return ok(
      objects.map((o) => ({
        key: o.key,
        etag: unquote(o.etag),
        // a listing gives GCS's generation (its match); S3 and Azure list no version
        version: source.cloud === 'gs' ? o.match : null,
        size: o.size,
        match: o.match === '' ? null : o.match,
      })),
    );
  } catch (err) {
    if (err instanceof CloudError) return fail({ detail: `${source.label}: ${described(err)}` });
    throw err;
  }
}

// A cloud's failure with its code, where the message does not hold it
// already: "no answer within 10 s (Timeout)", "NoSuchBucket (…)".
function described(err: CloudError): string {
  return err.message.includes(err.code) ? err.message : `${err.message} (${err.code})`;
}

// An ETag without the quotes around it: Azure lists it bare, and answers
// a HEAD or a GET with it quoted.
function unquote<T extends string | null>(etag: T): T {
  return (etag === null ? null : etag.replace(/^"(.*)"$/, '$1')) as T;
}

// Bytes that must move in each window of a download, or what is left.
const STALL_BYTES = 64 << 10;

// Streams one object to `write`, and checks what came: the size the
// listing said and the store announced, and the MD5 the store vouches for
// where it gives one. Resolves with what was checked ('md5' or 'size'), or
// fails with why the bytes cannot be used. A store that does not answer
// within `timeoutMs`, or a download that then moves less than 64 KiB in
// any `timeoutMs` (of this process's running time), is given up.
export async function downloadObject(
  store: ObjectStore,
  source: FetchSource,
  object: RemoteObject,
  write: (chunk: Uint8Array) => Promise<void> | void,
  options: { timeoutMs: number; onBytes?: (n: number) => void },
): Promise<Result<'md5' | 'size', SourceFailure>> {
  const named = `${source.cloud}://${source.bucket}/${object.key}`;
  let stalled: string | null = null;
  // the answer's headers within the timeout; then the stall watch below
  const answered = deadlineSignal(options.timeoutMs);
  try {
    let read;
    try {
      read = await store.read(source.bucket, object.key, answered.signal);
    } finally {
      answered.done();
    }
    if (read === null) return fail({ detail: `${named}: removed while it was fetched (${NOT_FOUND[source.cloud]})` });
    if (object.match !== null && read.match !== '' && unquote(read.match) !== unquote(object.match)) {
      read.cancel();
      return fail({ detail: `${named}: uploaded again while it was fetched; fetch again` });
    }
    if (read.size !== null && read.size !== object.size) {
      read.cancel();
      return fail({ detail: `${named}: the store sends ${formatSize(read.size)} where its listing says ${formatSize(object.size)}` });
    }
    const md5 = read.md5 === null ? null : createHash('md5');
    let size = 0;
    const watch = watchProgress(options.timeoutMs, STALL_BYTES, object.size, (moved) => {
      stalled = `${named}: stalled (${moved === 1 ? '1 byte' : `${moved} bytes`} in ${Math.round(options.timeoutMs / 100) / 10} s)`;
      read.cancel();
    });
    try {
      for await (const chunk of read.body) {
        if (stalled !== null) break;
        size += chunk.length;
        if (size > object.size) {
          read.cancel();
          return fail({ detail: `${named}: more than the ${formatSize(object.size)} its listing says` });
        }
        watch.moved(chunk.length);
        md5?.update(chunk);
        options.onBytes?.(chunk.length);
        await write(chunk);
      }
    } finally {
      watch.stop();
    }
    if (stalled !== null) return fail({ detail: stalled });
    if (size !== object.size) return fail({ detail: `${named}: ${formatSize(size)} came where ${formatSize(object.size)} were due (cut short)` });
    if (md5 !== null && !md5.digest().equals(read.md5!)) return fail({ detail: `${named}: the bytes that came do not have the MD5 the store gives for them` });
    return ok(md5 !== null ? 'md5' : 'size');
  } catch (err) {
    if (stalled !== null) return fail({ detail: stalled });
    if (err instanceof CloudError) return fail({ detail: `${named}: ${described(err)}` });
    if (err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE')) {
      return fail({ detail: `${named}: the download broke off (${(err as NodeJS.ErrnoException).code ?? err.name})` });
    }
    throw err;
  }
}
