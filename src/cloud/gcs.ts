import type { Readable } from 'node:stream';
import { CloudError, describeFetchFailure } from './cloud-error.js';
import { send, type Reply } from './http-client.js';
import type { CloudObject, Condition, ListedObject, ObjectRead, ObjectStore, UploadBody } from './types.js';
import { parseDocument, type DocumentLimits } from '../core/json-document.js';

// Google Cloud Storage through its JSON API. Credentials are Application
// Default Credentials, found by Google's own library (the service account
// of GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// application_default_credentials.json, the metadata server, workload
// identity federation), loaded only when a gs:// URL is used.
// STORAGE_EMULATOR_HOST points it at an emulator, which takes no
// credentials. An upload is one streamed request whatever its size (GCS
// takes up to 5 TiB so); conditions are on the object's generation.

const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';
// A page of a listing holds up to 1,000 objects' metadata: a few MB at most.
const LISTING_LIMITS: DocumentLimits = { maxLength: 64 << 20, maxDepth: 16 };

export class GcsStore implements ObjectStore {
  private readonly base: string;
  private readonly emulated: boolean;
  // Google's client, which keeps its token and renews it before it expires
  private auth: Promise<{ getAccessToken(): Promise<string | null | undefined> }> | null = null;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly timeoutMs: number,
  ) {
    const emulator = env.STORAGE_EMULATOR_HOST;
    this.emulated = emulator !== undefined && emulator !== '';
    this.base = this.emulated ? (/^https?:\/\//.test(emulator!) ? emulator! : `http://${emulator}`).replace(/\/$/, '') : 'https://storage.googleapis.com';
  }

  async stat(bucket: string, key: string, signal?: AbortSignal): Promise<CloudObject | null> {
    const url = new URL(`${this.objectUrl(bucket, key)}?fields=etag,generation,size,updated`);
    const body = await this.json(await this.send('GET', url, signal), (message) => /^no such object/i.test(message));
    if (body === null) return null;
    return {
      etag: typeof body.etag === 'string' ? body.etag : null,
      version: typeof body.generation === 'string' ? body.generation : null,
      size: Number(body.size ?? -1),
      lastModified: typeof body.updated === 'string' ? body.updated : null,
    };
  }

  async exists(bucket: string, key: string, signal: AbortSignal): Promise<boolean> {
    return (await this.stat(bucket, key, signal)) !== null;
  }

  async list(bucket: string, prefix: string, signal?: AbortSignal): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let pageToken: string | null = null;
    for (;;) {
      const url = new URL(`${this.base}/storage/v1/b/${encodeURIComponent(bucket)}/o`);
      url.searchParams.set('prefix', prefix);
      url.searchParams.set('fields', 'items(name,etag,size,updated,generation),nextPageToken');
      if (pageToken !== null) url.searchParams.set('pageToken', pageToken);
      const body = await this.json(await this.send('GET', url, signal));
      const items = Array.isArray(body.items) ? (body.items as Array<Record<string, unknown>>) : [];
      for (const item of items) {
        objects.push({
          key: String(item.name),
          etag: typeof item.etag === 'string' ? item.etag : null,
          size: Number(item.size ?? -1),
          modifiedMs: Date.parse(typeof item.updated === 'string' ? item.updated : ''),
          match: String(item.generation ?? ''),
        });
      }
      if (typeof body.nextPageToken !== 'string' || body.nextPageToken === '') return objects;
      pageToken = body.nextPageToken;
    }
  }

  async read(bucket: string, key: string, signal: AbortSignal): Promise<ObjectRead | null> {
    const response = await this.send('GET', new URL(`${this.objectUrl(bucket, key)}?alt=media`), signal);
    if (!response.ok) {
      await this.json(response, (message) => /^no such object/i.test(message));
      return null;
    }
    // x-goog-hash: crc32c=<base64>, md5=<base64> (a composite object has no md5)
    const md5 = /(?:^|,)\s*md5=([A-Za-z0-9+/]{22}==)/.exec(response.header('x-goog-hash') ?? '');
    const length = response.header('content-length');
    return {
      body: response.body,
      match: response.header('x-goog-generation') ?? '',
      ageMs: response.ageMs(),
      cancel: () => response.cancel(),
      // (a transcoded object, stored gzipped and served plain, has neither a length nor a hash of what is served)
      size: length !== null && /^\d+$/.test(length) ? Number(length) : null,
      md5: md5 !== null && response.header('x-goog-stored-content-encoding') !== 'gzip' ? Buffer.from(md5[1]!, 'base64') : null,
    };
  }

  async write(bucket: string, key: string, body: UploadBody, signal: AbortSignal, condition?: Condition): Promise<string | null> {
    const url = new URL(`${this.base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o`);
    url.searchParams.set('uploadType', 'media');
    url.searchParams.set('name', key);
    url.searchParams.set('fields', 'generation');
    if (condition !== undefined) url.searchParams.set('ifGenerationMatch', 'absent' in condition ? '0' : condition.match);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    const stream: Buffer | (() => Readable) = Buffer.isBuffer(body) ? body : () => body.open(0, body.size);
    const response = await this.send('POST', url, signal, stream, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
    if (condition !== undefined && response.status === 412) {
      response.cancel();
      return null;
    }
    const answer = await this.json(response);
    return String(answer.generation ?? '');
  }

  async remove(bucket: string, key: string, signal: AbortSignal, match?: string): Promise<boolean> {
    const url = new URL(this.objectUrl(bucket, key));
    if (match !== undefined) url.searchParams.set('ifGenerationMatch', match);
    const response = await this.send('DELETE', url, signal);
    if (response.status === 412) {
      response.cancel();
      return false;
    }
    if (response.status === 204 || response.status === 200) {
      response.cancel();
      return true;
    }
    // absent already: removed
    await this.json(response, (message) => /^no such object/i.test(message));
    return true;
  }

  private objectUrl(bucket: string, key: string): string {
    return `${this.base}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}`;
  }

  private async send(method: string, url: URL, signal?: AbortSignal, body?: Buffer | (() => Readable), extra: Record<string, string> = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...extra };
    if (!this.emulated) headers.authorization = `Bearer ${await this.accessToken()}`;
    try {
      return await send(url, { method, headers, body, signal: signal ?? AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const failure = describeFetchFailure(err, this.timeoutMs);
      throw new CloudError(failure.message, failure.code);
    }
  }

  // A success's JSON, or a CloudError with GCS's own reason (notFound,
  // forbidden); null for an error that `absent` says means no such object.
  private async json(response: Reply): Promise<Record<string, unknown>>;
  private async json(response: Reply, absent: (message: string) => boolean): Promise<Record<string, unknown> | null>;
  private async json(response: Reply, absent?: (message: string) => boolean): Promise<Record<string, unknown> | null> {
    const text = await response.text().catch(() => '');
    // (an error page that is not JSON, or not one within the bounds: the status says it)
    const parsed = parseDocument(text, LISTING_LIMITS);
    const body = parsed.ok && typeof parsed.value === 'object' && parsed.value !== null ? (parsed.value as Record<string, unknown>) : {};
    if (response.ok) return body;
    const error = (body.error ?? {}) as { message?: unknown; errors?: Array<{ reason?: unknown }> };
    const reason = typeof error.errors?.[0]?.reason === 'string' ? error.errors[0].reason : `HTTP ${response.status}`;
    const message = typeof error.message === 'string' ? error.message : '';
    if (response.status === 404 && absent?.(message)) return null;
    throw new CloudError(`${reason}${message ? ` (${message})` : ''}`, reason, response.status);
  }

  private async accessToken(): Promise<string> {
    this.auth ??= import('google-auth-library').then(({ GoogleAuth }) => new GoogleAuth({ scopes: SCOPE }));
    try {
      const token = await (await this.auth).getAccessToken();
      if (!token) throw new Error('no token');
      return token;
    } catch (err) {
      throw new CloudError(
        `no Google credentials (${(err as Error).message.split('\n')[0]}); \`gcloud auth application-default login\` or GOOGLE_APPLICATION_CREDENTIALS sets them`,
        'NoCredentials',
      );
    }
  }
}
