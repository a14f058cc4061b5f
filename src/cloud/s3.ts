import type { Readable } from 'node:stream';
import { awsCredentialProvider, awsSettings, type AwsSettings } from './aws-config.js';
import { CloudError, describeFetchFailure, xmlValue, xmlValues } from './cloud-error.js';
import { send, type Reply } from './http-client.js';
import { partsOf } from './parts.js';
import type { CloudObject, Condition, ListedObject, ObjectRead, ObjectStore, UploadBody } from './types.js';
import { canonicalQuery, encodeRfc3986, signRequest, type AwsCredentials } from './sigv4.js';

// Amazon S3 and the stores that speak its API (MinIO, R2, moto), through
// its REST API: each request signed with SigV4. A custom endpoint
// (AWS_ENDPOINT_URL_S3) is addressed path-style; AWS itself virtual-host
// style, and a bucket in another region is followed there. A large upload
// is a multipart upload, each part streamed from the file.

interface Request {
  method: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  // made again if the request must be sent again (to the bucket's region)
  body?: () => Buffer | Readable;
  signal?: AbortSignal;
}

export class S3Store implements ObjectStore {
  private provider: Promise<() => Promise<AwsCredentials | null>> | null = null;
  private readonly settings: AwsSettings;
  // the region each bucket answered from, when it is not the configured one
  private readonly regions = new Map<string, string>();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly timeoutMs: number,
    private readonly clock: () => number,
  ) {
    this.settings = awsSettings(env);
  }

  async stat(bucket: string, key: string, signal?: AbortSignal): Promise<CloudObject | null> {
    const response = await this.send(bucket, { method: 'HEAD', key, signal });
    response.cancel();
    if (!response.ok) {
      // A HEAD answer has no body: ask again with a GET of one byte, whose
      // error says which of NoSuchKey, NoSuchBucket, AccessDenied...
      const again = await this.send(bucket, { method: 'GET', key, headers: { range: 'bytes=0-0' }, signal });
      if (again.ok) {
        again.cancel();
        throw new CloudError(`HTTP ${response.status}`, `HTTP ${response.status}`, response.status);
      }
      const error = await errorOf(again);
      if (error.code === 'NoSuchKey') return null;
      throw error;
    }
    return {
      etag: response.header('etag'),
      version: response.header('x-amz-version-id'),
      size: Number(response.header('content-length') ?? -1),
      lastModified: response.header('last-modified'),
    };
  }

  async exists(bucket: string, key: string, signal: AbortSignal): Promise<boolean> {
    return (await this.stat(bucket, key, signal)) !== null;
  }

  async list(bucket: string, prefix: string, signal?: AbortSignal): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let token: string | null = null;
    for (;;) {
      const query: Record<string, string> = { 'list-type': '2', prefix };
      if (token !== null) query['continuation-token'] = token;
      const response = await this.send(bucket, { method: 'GET', query, signal });
      await check(response);
      const xml = await response.text();
      for (const item of xmlValues(xml, 'Contents')) {
        const etag = xmlValue(item, 'ETag');
        objects.push({
          key: xmlValue(item, 'Key') ?? '',
          etag,
          size: Number(xmlValue(item, 'Size') ?? -1),
          modifiedMs: Date.parse(xmlValue(item, 'LastModified') ?? ''),
          match: etag ?? '',
        });
      }
      if (xmlValue(xml, 'IsTruncated') !== 'true') return objects;
      token = xmlValue(xml, 'NextContinuationToken');
      if (token === null) throw new CloudError('a truncated listing without a continuation token', 'BadListing');
    }
  }

  async read(bucket: string, key: string, signal: AbortSignal): Promise<ObjectRead | null> {
    const response = await this.send(bucket, { method: 'GET', key, signal });
    if (response.status === 404) {
      const error = await errorOf(response);
      if (error.code === 'NoSuchKey') return null;
      throw error;
    }
    await check(response);
    return {
      body: response.body,
      match: response.header('etag') ?? '',
      ageMs: response.ageMs(),
      cancel: () => response.cancel(),
      size: contentLength(response),
      md5: etagMd5(response),
    };
  }

  async write(bucket: string, key: string, body: UploadBody, signal: AbortSignal, condition?: Condition): Promise<string | null> {
    const parts = Buffer.isBuffer(body) ? null : partsOf(body.size);
    if (parts !== null && parts.length > 1 && condition === undefined) return this.writeInParts(bucket, key, body as Exclude<UploadBody, Buffer>, parts, signal);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    const headers: Record<string, string> = { 'content-length': String(size), 'content-type': 'application/octet-stream' };
    if (condition !== undefined) {
      if ('absent' in condition) headers['if-none-match'] = '*';
      else headers['if-match'] = condition.match;
    }
    const response = await this.send(bucket, {
      method: 'PUT',
      key,
      headers,
      body: () => (Buffer.isBuffer(body) ? body : body.open(0, body.size)),
      signal,
    });
    if (condition !== undefined && failedCondition(response.status)) {
      response.cancel();
      return null;
    }
    if (condition !== undefined && response.status === 404) {
      // If-Match on an object that is gone
      const error = await errorOf(response);
      if (error.code === 'NoSuchKey') return null;
      throw error;
    }
    await check(response);
    response.cancel();
    return response.header('etag') ?? '';
  }

  async remove(bucket: string, key: string, signal: AbortSignal, match?: string): Promise<boolean> {
    const response = await this.send(bucket, { method: 'DELETE', key, headers: match === undefined ? {} : { 'if-match': match }, signal });
    if (failedCondition(response.status)) {
      response.cancel();
      return false;
    }
    if (response.status === 404) {
      const error = await errorOf(response);
      if (error.code === 'NoSuchKey') return true;
      throw error;
    }
    await check(response);
    response.cancel();
    return true;
  }

  // A multipart upload: one part at a time, each streamed from the file, so
  // that memory stays flat whatever the size; aborted on any failure, so
  // that no parts are left behind to be billed.
  private async writeInParts(
    bucket: string,
    key: string,
    body: { size: number; open(start: number, end: number): Readable },
    parts: Array<{ start: number; end: number }>,
    signal: AbortSignal,
  ): Promise<string> {
    const created = await this.send(bucket, { method: 'POST', key, query: { uploads: '' }, headers: { 'content-type': 'application/octet-stream' }, signal });
    await check(created);
    const uploadId = xmlValue(await created.text(), 'UploadId');
    if (uploadId === null) throw new CloudError('CreateMultipartUpload answered no UploadId', 'BadAnswer');
    try {
      const etags: string[] = [];
      for (const [i, part] of parts.entries()) {
        const response = await this.send(bucket, {
          method: 'PUT',
          key,
          query: { partNumber: String(i + 1), uploadId },
          headers: { 'content-length': String(part.end - part.start) },
          body: () => body.open(part.start, part.end),
          signal,
        });
        await check(response);
        response.cancel();
        const etag = response.header('etag');
        if (etag === null) throw new CloudError(`part ${i + 1} answered no ETag`, 'BadAnswer');
        etags.push(etag);
      }
      const xml = `<CompleteMultipartUpload>${etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
      const bytes = Buffer.from(xml);
      const completed = await this.send(bucket, {
        method: 'POST',
        key,
        query: { uploadId },
        headers: { 'content-length': String(bytes.length), 'content-type': 'application/xml' },
        body: () => bytes,
        signal,
      });
      await check(completed);
      // a failure may come as a 200 whose body is an <Error>
      const answer = await completed.text();
      if (/<Error>/.test(answer)) {
        const code = xmlValue(answer, 'Code') ?? 'InternalError';
        throw new CloudError(`${code} completing the upload`, code);
      }
      return xmlValue(answer, 'ETag') ?? completed.header('etag') ?? '';
    } catch (err) {
      await this.send(bucket, { method: 'DELETE', key, query: { uploadId }, signal: AbortSignal.timeout(this.timeoutMs) })
        .then((r) => r.cancel())
        .catch(() => {});
      throw err;
    }
  }

  // One signed request; follows a bucket to its region. Without a signal,
  // it has the timeout.
  private async send(bucket: string, request: Request): Promise<Reply> {
    const credentials = await this.credentialsOnce();
    const signal = request.signal ?? AbortSignal.timeout(this.timeoutMs);
    for (let attempt = 0; ; attempt++) {
      const region = this.regions.get(bucket) ?? this.settings.region;
      const url = this.urlOf(bucket, request.key ?? '', region);
      for (const [name, value] of Object.entries(request.query ?? {})) url.searchParams.set(name, value);
      // sent exactly as signed: URLSearchParams would send '+' for a space and a bare '*'
      url.search = canonicalQuery(url.searchParams);
      const headers = signRequest({ method: request.method, url, headers: { ...request.headers }, region, service: 's3', credentials, now: this.clock() });
      let response: Reply;
      try {
        response = await send(url, { method: request.method, headers, body: request.body, signal });
      } catch (err) {
        const failure = describeFetchFailure(err, this.timeoutMs);
        throw new CloudError(failure.message, failure.code);
      }
      const elsewhere = response.header('x-amz-bucket-region');
      if (attempt === 0 && elsewhere && elsewhere !== region && (response.status === 301 || response.status === 400 || response.status === 307)) {
        response.cancel();
        this.regions.set(bucket, elsewhere);
        continue;
      }
      return response;
    }
  }

  private urlOf(bucket: string, key: string, region: string): URL {
    const path = key === '' ? '' : `/${key.split('/').map(encodeRfc3986).join('/')}`;
    const endpoint = this.settings.endpoint;
    if (endpoint !== null) {
      const base = endpoint.toString().replace(/\/$/, '');
      return new URL(`${base}/${encodeRfc3986(bucket)}${path || '/'}`);
    }
    // a bucket with dots in its name cannot be a host name under TLS
    return bucket.includes('.')
      ? new URL(`https://s3.${region}.amazonaws.com/${bucket}${path || '/'}`)
      : new URL(`https://${bucket}.s3.${region}.amazonaws.com${path || '/'}`);
  }

  private async credentialsOnce(): Promise<AwsCredentials> {
    this.provider ??= awsCredentialProvider(this.env, this.settings.profile);
    const credentials = await (await this.provider)();
    if (credentials === null) {
      throw new CloudError(
        'no AWS credentials (none in the environment, the profile, SSO, or the instance); `aws configure` or AWS_ACCESS_KEY_ID sets them',
        'NoCredentials',
      );
    }
    return credentials;
  }
}

// 412: the condition did not hold. (A 409 ConditionalRequestConflict says
// another conditional write to the key was in flight: that is not an
// answer, and is an error the caller may try again.)
function failedCondition(status: number): boolean {
  return status === 412;
}

async function check(response: Reply): Promise<void> {
  if (!response.ok) throw await errorOf(response);
}

// An answer that is not a success, as a CloudError with S3's own code.
async function errorOf(response: Reply): Promise<CloudError> {
  const body = await response.text().catch(() => '');
  const code = xmlValue(body, 'Code') ?? `HTTP ${response.status}`;
  const message = xmlValue(body, 'Message');
  return new CloudError(`${code}${message ? ` (${message})` : ''}`, code, response.status);
}

// The MD5 an S3 ETag is: that of a single-part upload stored without
// SSE-KMS or a customer's key (a multipart ETag has a '-' and a part count;
// an encrypted object's is no MD5 of its bytes). Null otherwise.
export function etagMd5(response: Pick<Reply, 'header'>): Buffer | null {
  const etag = /^"?([0-9a-f]{32})"?$/i.exec(response.header('etag') ?? '');
  if (etag === null) return null;
  const sse = response.header('x-amz-server-side-encryption');
  if ((sse !== null && sse !== 'AES256') || response.header('x-amz-server-side-encryption-customer-algorithm') !== null) return null;
  return Buffer.from(etag[1]!, 'hex');
}

export function contentLength(response: Pick<Reply, 'header'>): number | null {
  const text = response.header('content-length');
  return text !== null && /^\d+$/.test(text) ? Number(text) : null;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
