import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { BlobHash, CacheKey } from '../hash.js';
import type { RemoteSpec, RemoteStore } from './remote.js';

// Manifests are small; anything bigger from the remote is refused unread.
const MAX_MANIFEST_BYTES = 64 << 20;

// A remote cache on any HTTP server that answers GET, HEAD and PUT on
// paths: nginx with WebDAV, a bazel-remote-style cache, an object store
// behind a proxy. Layout under the base URL: entries/<key>.json and
// blobs/<hash>. A bearer token comes from DCACHE_REMOTE_TOKEN, basic auth
// from the URL; neither is ever printed.
//
// Every request must answer within the timeout; a transfer in progress may
// take longer, but never stall for longer than the timeout between chunks.
export class HttpRemote implements RemoteStore {
  readonly label: string;
  readonly readOnly: boolean;
  private readonly base: URL;
  private readonly headers: Record<string, string> = {};
  private readonly timeoutMs: number;

  constructor(spec: RemoteSpec, token: string | undefined) {
    this.label = spec.label;
    this.readOnly = spec.readOnly;
    this.timeoutMs = spec.timeoutMs;
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
    const found = await this.download(`entries/${key}.json`, (chunk) => {
      size += chunk.length;
      if (size > MAX_MANIFEST_BYTES) throw new Error(`${this.label}: manifest of ${key} is too large`);
      chunks.push(Buffer.from(chunk));
    });
    return found ? Buffer.concat(chunks) : null;
  }

  getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void): Promise<boolean> {
    return this.download(`blobs/${hash}`, write);
  }

  async hasBlob(hash: BlobHash): Promise<boolean> {
    const response = await this.request('HEAD', `blobs/${hash}`);
    if (response.status === 404) return false;
    if (!response.ok) throw new Error(`${this.label}: HEAD blobs/${hash} answered ${response.status}`);
    return true;
  }

  async putBlob(hash: BlobHash, size: number, path: string): Promise<void> {
    this.assertWritable();
    await this.upload(`blobs/${hash}`, size, () => createReadStream(path, { highWaterMark: 1 << 20 }));
  }

  async putManifest(key: CacheKey, bytes: Buffer): Promise<void> {
    this.assertWritable();
    await this.upload(`entries/${key}.json`, bytes.length, () => Readable.from([bytes]));
  }

  async close(): Promise<void> {
    // fetch keeps no connection we must close
  }

  private assertWritable(): void {
    if (this.readOnly) throw new Error(`${this.label} is read-only`);
  }

  // GETs a path into `write`; false on 404.
  private async download(path: string, write: (chunk: Uint8Array) => Promise<void> | void): Promise<boolean> {
    const controller = new AbortController();
    const response = await this.request('GET', path, { controller });
    if (response.status === 404) {
      await response.body?.cancel();
      return false;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`${this.label}: GET ${path} answered ${response.status}`);
    }
    const idle = new IdleTimer(this.timeoutMs, () => controller.abort());
    try {
      for await (const chunk of response.body ?? []) {
        idle.touch();
        await write(chunk as Uint8Array);
      }
    } catch (err) {
      throw idle.fired ? new Error(`${this.label}: GET ${path} stalled for ${this.timeoutMs / 1000} s`) : err;
    } finally {
      idle.stop();
    }
    return true;
  }

  private async upload(path: string, size: number, body: () => Readable): Promise<void> {
    const controller = new AbortController();
    const stream = body();
    const idle = new IdleTimer(this.timeoutMs, () => controller.abort());
    stream.on('data', () => idle.touch());
    try {
      const response = await this.request('PUT', path, {
        controller,
        body: Readable.toWeb(stream) as ReadableStream,
        headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' },
        timeoutHeaders: false,
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`${this.label}: PUT ${path} answered ${response.status}`);
    } catch (err) {
      throw idle.fired ? new Error(`${this.label}: PUT ${path} stalled for ${this.timeoutMs / 1000} s`) : err;
    } finally {
      idle.stop();
      stream.destroy();
    }
  }

  // One request whose response headers must come within the timeout.
  private async request(
    method: 'GET' | 'HEAD' | 'PUT',
    path: string,
    options: { controller?: AbortController; body?: ReadableStream; headers?: Record<string, string>; timeoutHeaders?: boolean } = {},
  ): Promise<Response> {
    const controller = options.controller ?? new AbortController();
    const timer = options.timeoutHeaders === false ? null : setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      return await fetch(new URL(path, this.base), {
        method,
        headers: { ...this.headers, ...options.headers },
        body: options.body,
        signal: controller.signal,
        redirect: 'follow',
        // a streamed request body needs this (Node's fetch, undici)
        ...(options.body ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      if (controller.signal.aborted) throw new Error(`${this.label} did not answer ${method} ${path} within ${this.timeoutMs / 1000} s`);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`${this.label}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}

// Fires when nothing has happened for `ms`.
class IdleTimer {
  fired = false;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {
    this.timer = this.start();
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = this.start();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private start(): NodeJS.Timeout {
    return setTimeout(() => {
      this.fired = true;
      this.onIdle();
    }, this.ms);
  }
}
