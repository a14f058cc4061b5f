import { createHash, createHmac } from 'node:crypto';

// AWS Signature Version 4, for the S3 requests dcache makes (HEAD, GET,
// PUT, DELETE, ListObjectsV2 and the multipart calls). Bodies are not
// hashed: S3 accepts UNSIGNED-PAYLOAD over HTTPS, and a body's bytes are
// checked by their SHA-256 elsewhere anyway. The test vectors of AWS's own
// suite and a real S3 server that checks signatures (moto with
// authentication) test it.

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignInput {
  method: string;
  url: URL;
  // lower-case names; `host` is added
  headers: Record<string, string>;
  region: string;
  service: string;
  credentials: AwsCredentials;
  // the time of signing, ms since 1970
  now: number;
  // the hex SHA-256 of the body, or UNSIGNED-PAYLOAD
  payloadHash?: string;
}

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

// The request's headers with the signature's: x-amz-date,
// x-amz-content-sha256 (S3), x-amz-security-token, authorization.
export function signRequest(input: SignInput): Record<string, string> {
  const amzDate = new Date(input.now).toISOString().replace(/[:-]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const payloadHash = input.payloadHash ?? UNSIGNED_PAYLOAD;
  const headers: Record<string, string> = { ...input.headers, host: input.url.host, 'x-amz-date': amzDate };
  if (input.service === 's3') headers['x-amz-content-sha256'] = payloadHash;
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers)
    .map((n) => n.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([n, v]) => [n.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    canonicalPath(input.url.pathname, input.service),
    canonicalQuery(input.url.searchParams),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = [day, input.region, input.service, 'aws4_request'].reduce<Buffer>(
    (k, part) => hmac(k, part),
    Buffer.from(`AWS4${input.credentials.secretAccessKey}`, 'utf8'),
  );
  const signature = hmac(key, toSign).toString('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

// S3 signs the path as it is sent (each segment encoded once); the other
// services encode the encoded path again.
function canonicalPath(pathname: string, service: string): string {
  if (pathname === '') return '/';
  const decoded = pathname.split('/').map((segment) => decodeURIComponent(segment));
  const once = decoded.map(encodeRfc3986).join('/');
  return service === 's3' ? once : once.split('/').map(encodeRfc3986).join('/');
}

// The query as SigV4 signs it: names and values percent-encoded (RFC 3986)
// and sorted. Sent as this very text, it is the same bytes the server checks.
export function canonicalQuery(params: URLSearchParams): string {
  return [...params.entries()]
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

// Percent-encodes everything but the unreserved characters of RFC 3986.
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest();
}
