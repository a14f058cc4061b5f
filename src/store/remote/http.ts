import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { BlobHash, CacheKey } from '../../core/hash.js';
import { countingReads, readBody, RemoteError, transferBudgetMs, withRemoteDeadline, type RemoteSpec, type RemoteBackend } from './backend.js';

// Manifests are small; anything bigger from the remote is refused unread.
const MAX_MANIFEST_BYTES = 64 << 20;

// A remote cache on any HTTP server that answers GET, HEAD and PUT on
// paths: nginx with WebDAV, a bazel-remote-style cache, an object store
// behind a proxy. Layout under the base URL: entries/<key>.json and
// blobs/<hash>. A bearer token comes from DCACHE_REMOTE_TOKEN, basic auth
// from the URL; neither is ever printed.
//
// Every operation has a total deadline, body included: the timeout, plus,
// for a blob, the time it takes at the slowest rate worth waiting for
// (transferBudgetMs). A server that drips a byte at a time, or stops
// half-way, is given up at that deadline.
export class HttpRemote implements RemoteBackend {
  readonly label: string;
  readonly readOnly: boolean;
  private readonly base: URL;
  private readonly headers: Record<string, string> = {};
  private readonly timeoutMs: number;
  private readonly stallMs: number;

  constructor(spec: RemoteSpec, token: string | undefined) {
    this.label = spec.label;
    this.readOnly = spec.readOnly;
    this.timeoutMs = spec.timeoutMs;
    this.stallMs = spec.stallMs;
    const base = new URL(spec.url.toString());
    if (base.username || base.password) {
      const credentials = `${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`;
      this.headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
      base.username = '';
      base.password = '';
    }
    if (token) this.headers.authorization = `Bearer ${token}`;
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
  }

  async getManifest(key: CacheKey): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    const found = await this.download(`entries/${key}.json`, this.timeoutMs, (chunk) => {
      size += chunk.length;
      if (size > MAX_MANIFEST_BYTES) throw new RemoteError(`${this.label}: manifest of ${key} is too large`);
      chunks.push(Buffer.from(chunk));
    });
    return found ? Buffer.concat(chunks) : null;
  }

  // `size`, when known, sets the deadline; without it a blob gets the time
  // of the largest manifest.
  getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void, size?: number): Promise<boolean> {
    return this.download(`blobs/${hash}`, transferBudgetMs(this.timeoutMs, size ?? MAX_MANIFEST_BYTES), write, size ?? MAX_MANIFEST_BYTES);
  }

  async hasBlob(hash: BlobHash): Promise<boolean> {
    const status = await this.withDeadline(`HEAD blobs/${hash}`, this.timeoutMs, async (signal) => {
      const response = await this.request('HEAD', `blobs/${hash}`, signal);
      return response.status;
    });
    if (status === 404) return false;
    if (status < 200 || status > 299) throw new RemoteError(`${this.label}: HEAD blobs/${hash} answered ${status}`);
    return true;
  }

  async putBlob(hash: BlobHash, size: number, path: string, sent?: (bytes: number) => void): Promise<void> {
    this.assertWritable();
    const open = countingReads(() => createReadStream(path, { highWaterMark: 1 << 20 }), sent);
    await this.upload(`blobs/${hash}`, size, transferBudgetMs(this.timeoutMs, size), () => open(0, size));
  }

  async putManifest(key: CacheKey, bytes: Buffer): Promise<void> {
    this.assertWritable();
    await this.upload(`entries/${key}.json`, bytes.length, this.timeoutMs, () => Readable.from([bytes]));
  }

  async close(): Promise<void> {
    // fetch keeps no connection we must close
  }

  private assertWritable(): void {
    if (this.readOnly) throw new Error(`${this.label} is read-only`);
  }

  // GETs a path into `write` within `budgetMs`; false on 404. The body of
  // a blob (`blobSize`) is also given up when it stalls (readBody).
  private download(path: string, budgetMs: number, write: (chunk: Uint8Array) => Promise<void> | void, blobSize?: number): Promise<boolean> {
    return this.withDeadline(`GET ${path}`, budgetMs, async (deadline) => {
      const stall = new AbortController();
      const signal = AbortSignal.any([deadline, stall.signal]);
      const response = await this.request('GET', path, signal);
      if (response.status === 404) {
        await response.body?.cancel().catch(() => {});
        return false;
      }
      if (!response.ok) {
        await response.body?.cancel().catch(() => {});
        throw new RemoteError(`${this.label}: GET ${path} answered ${response.status}`);
      }
      const body = (response.body ?? []) as AsyncIterable<Uint8Array>;
      if (blobSize === undefined) for await (const chunk of body) await write(chunk);
      else await readBody(this.label, `GET ${path}`, this.stallMs, blobSize, body, () => stall.abort(), write);
      return true;
    });
  }

  private upload(path: string, size: number, budgetMs: number, body: () => Readable): Promise<void> {
    return this.withDeadline(`PUT ${path}`, budgetMs, async (signal) => {
      const stream = body();
      try {
        const response = await this.request('PUT', path, signal, Readable.toWeb(stream) as ReadableStream, {
          'content-length': String(size),
          'content-type': 'application/octet-stream',
        });
        await response.body?.cancel().catch(() => {});
        if (!response.ok) throw new RemoteError(`${this.label}: PUT ${path} answered ${response.status}`);
      } finally {
        stream.destroy();
      }
    });
  }

  private withDeadline<T>(what: string, budgetMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withRemoteDeadline(this.label, what, budgetMs, work);
  }

  private async request(
    method: 'GET' | 'HEAD' | 'PUT',
    path: string,
    signal: AbortSignal,
    body?: ReadableStream,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    try {
      return await fetch(new URL(path, this.base), {
        method,
        headers: { ...this.headers, ...headers },
        body,
        signal,
        redirect: 'follow',
        // a streamed request body needs this (Node's fetch, undici)
        ...(body ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      if (signal.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RemoteError(`${this.label}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
  }
}

