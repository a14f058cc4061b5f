import { deadlineSignal } from '../core/deadline.js';
import { fail, ok } from '../core/errors.js';
import { createStreamHash, displayHash, hashBytes, isSha256 } from '../core/hash.js';
import { redactUrl, urlIdentity } from '../core/redact.js';
import type { Fingerprint } from '../schema/fingerprint.js';
import type { Probe, ProbeContext, SourceKind, WatchSource } from './source.js';

// An http(s):// URL: the ETag, Last-Modified and Content-Length of a HEAD,
// redirects followed; a GET's when HEAD is refused; and the hash of the
// body when the server sends none of them.

export interface UrlFingerprint extends Fingerprint {
  kind: 'url';
  etag: string | null;
  lastModified: string | null;
  contentLength: string | null;
  bodyHash: string | null;
}

export const urlKind: SourceKind = {
  kind: 'url',

  parse(given) {
    if (!/^https?:\/\//i.test(given)) return null;
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      return fail(`--watch '${redactUrl(given)}' is not a valid URL; watch one such as https://example.com/export.csv`);
    }
    // The identity may hold a credential that is not a signature: only its hash is kept.
    return ok({ kind: 'url', source: given, label: redactUrl(given), id: `url:${hashBytes(urlIdentity(url))}` });
  },

  probe: (source, ctx) => probeUrl(source, ctx),

  same(recorded, current) {
    const a = asUrl(recorded);
    const b = asUrl(current);
    return (
      a !== undefined &&
      b !== undefined &&
      a.etag === b.etag &&
      a.lastModified === b.lastModified &&
      a.contentLength === b.contentLength &&
      a.bodyHash === b.bodyHash
    );
  },

  describe(f) {
    const u = asUrl(f);
    if (u === undefined) return 'unreadable';
    if (u.bodyHash !== null) return `body hash ${displayHash(u.bodyHash)}`;
    return [
      u.etag !== null ? `ETag ${u.etag}` : null,
      u.lastModified !== null ? `Last-Modified ${u.lastModified}` : null,
      u.contentLength !== null ? `Content-Length ${u.contentLength}` : null,
    ]
      .filter(Boolean)
      .join(', ');
  },

  // Each validator that differs, as the cloud kinds name theirs:
  // ETag "v1" → "v2", Content-Length 24 → 33.
  describeChange(recorded, current) {
    const a = asUrl(recorded);
    const b = asUrl(current);
    if (a === undefined || b === undefined) return null;
    const differs = (what: string, x: string | null, y: string | null) => (x === y ? null : `${what} ${x ?? 'none'} → ${y ?? 'none'}`);
    return (
      [
        differs('ETag', a.etag, b.etag),
        differs('Last-Modified', a.lastModified, b.lastModified),
        differs('Content-Length', a.contentLength, b.contentLength),
        differs('body hash', a.bodyHash === null ? null : displayHash(a.bodyHash), b.bodyHash === null ? null : displayHash(b.bodyHash)),
      ]
        .filter(Boolean)
        .join(', ') || null
    );
  },
};

function asUrl(f: Fingerprint): UrlFingerprint | undefined {
  const text = (x: unknown) => x === null || typeof x === 'string';
  const wellFormed =
    f.kind === 'url' && text(f.etag) && text(f.lastModified) && text(f.contentLength) && (f.bodyHash === null || isSha256(f.bodyHash));
  return wellFormed ? (f as UrlFingerprint) : undefined;
}

// Each request has --watch-timeout of the process's running time
// (src/deadline.ts), its body included.
async function probeUrl(watched: WatchSource, ctx: ProbeContext): Promise<Probe> {
  const deadlines: Array<() => void> = [];
  try {
    return await probeUrlWithin(watched, ctx, () => {
      const deadline = deadlineSignal(ctx.timeoutMs);
      deadlines.push(deadline.done);
      return deadline.signal;
    });
  } finally {
    for (const done of deadlines) done();
  }
}

async function probeUrlWithin(watched: WatchSource, ctx: ProbeContext, deadline: () => AbortSignal): Promise<Probe> {
  const url = new URL(watched.source);
  const headers: Record<string, string> = {};
  // fetch refuses URLs with credentials: send them as basic auth instead.
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const label = watched.label;
  const request = (method: 'HEAD' | 'GET') =>
    fetch(url, { method, headers, redirect: 'follow', signal: deadline() });
  let head: Response;
  try {
    head = await request('HEAD');
  } catch (err) {
    return { ok: false, detail: describeFetchError(label, err, ctx.timeoutMs) };
  }
  // Some servers refuse HEAD (S3's presigned GET URLs answer 403): ask with
  // GET instead, and read the body only if its headers say nothing.
  const refused = head.status === 403 || head.status === 405 || head.status === 501;
  if (!head.ok && !refused) return { ok: false, detail: `${label} answered HEAD with ${head.status} ${head.statusText}`.trim() };
  if (head.ok) {
    const validators = validatorsOf(head, watched);
    if (validators) return { ok: true, fingerprint: validators };
  }
  let response: Response;
  try {
    response = await request('GET');
    if (!response.ok) return { ok: false, detail: `${label} answered GET with ${response.status}` };
    if (refused) {
      const validators = validatorsOf(response, watched);
      if (validators) {
        await response.body?.cancel();
        return { ok: true, fingerprint: validators };
      }
    }
    const hash = createStreamHash();
    for await (const chunk of response.body ?? []) hash.update(chunk as Uint8Array);
    const fingerprint: UrlFingerprint = {
      kind: 'url',
      source: label,
      id: watched.id,
      etag: null,
      lastModified: null,
      contentLength: null,
      bodyHash: hash.digest(),
    };
    return {
      ok: true,
      fingerprint,
      warning: `${label} sends no ETag, Last-Modified or Content-Length: its whole body is downloaded and hashed at every check`,
    };
  } catch (err) {
    return { ok: false, detail: describeFetchError(label, err, ctx.timeoutMs) };
  }
}

function validatorsOf(response: Response, watched: WatchSource): UrlFingerprint | null {
  const etag = response.headers.get('etag');
  const lastModified = response.headers.get('last-modified');
  const contentLength = response.headers.get('content-length');
  if (etag === null && lastModified === null && contentLength === null) return null;
  return { kind: 'url', source: watched.label, id: watched.id, etag, lastModified, contentLength, bodyHash: null };
}

function describeFetchError(label: string, err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `${label} did not answer within ${timeoutMs / 1000} s`;
  return `${label}: ${e.cause?.code ?? e.cause?.message ?? e.message}`;
}
