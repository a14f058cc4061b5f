import { createHmac } from 'node:crypto';
import { CloudError, describeFetchFailure, xmlValue, xmlValues } from './cloud-error.js';
import type { Readable } from 'node:stream';
import { send, type Reply } from './http-client.js';
import { partsOf } from './parts.js';
import type { CloudObject, Condition, ListedObject, ObjectRead, ObjectStore, UploadBody } from './types.js';

// Azure Blob Storage through its REST API, with fetch. The account and how
// to authenticate come the way the az CLI finds them:
// AZURE_STORAGE_CONNECTION_STRING (an account key or a SAS, and the
// endpoint; UseDevelopmentStorage=true for Azurite), or AZURE_STORAGE_ACCOUNT
// with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or AZURE_STORAGE_ACCOUNT
// alone with Microsoft Entra ID (DefaultAzureCredential, loaded only then).

const VERSION = '2021-08-06';

// Azurite's well-known development account.
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

type Auth = { kind: 'key'; key: Buffer } | { kind: 'sas'; query: string } | { kind: 'entra' };

interface AzureSettings {
  account: string;
  // the blob service's base URL, without a trailing slash
  endpoint: string;
  auth: Auth;
}

export function openAzureStore(env: NodeJS.ProcessEnv, timeoutMs: number, clock: () => number): ObjectStore {
  return new AzureStore(azureSettings(env), timeoutMs, clock);
}

function azureSettings(env: NodeJS.ProcessEnv): AzureSettings {
  const connection = env.AZURE_STORAGE_CONNECTION_STRING;
  if (connection) return fromConnectionString(connection);
  const account = env.AZURE_STORAGE_ACCOUNT;
  if (!account) {
    throw new CloudError(
      'no Azure storage account: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT (with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, or a Microsoft Entra ID login)',
      'NoCredentials',
    );
  }
  const endpoint = `https://${account}.blob.core.windows.net`;
  if (env.AZURE_STORAGE_KEY) return { account, endpoint, auth: { kind: 'key', key: Buffer.from(env.AZURE_STORAGE_KEY, 'base64') } };
  if (env.AZURE_STORAGE_SAS_TOKEN) return { account, endpoint, auth: { kind: 'sas', query: env.AZURE_STORAGE_SAS_TOKEN.replace(/^\?/, '') } };
  return { account, endpoint, auth: { kind: 'entra' } };
}

function fromConnectionString(text: string): AzureSettings {
  const parts = new Map<string, string>();
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) parts.set(pair.slice(0, eq).trim().toLowerCase(), pair.slice(eq + 1).trim());
  }
  if (/^true$/i.test(parts.get('usedevelopmentstorage') ?? '')) {
    return { account: DEV_ACCOUNT, endpoint: `http://127.0.0.1:10000/${DEV_ACCOUNT}`, auth: { kind: 'key', key: Buffer.from(DEV_KEY, 'base64') } };
  }
  const account = parts.get('accountname') ?? '';
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  const suffix = parts.get('endpointsuffix') ?? 'core.windows.net';
  const endpoint = (parts.get('blobendpoint') ?? `${protocol}://${account}.blob.${suffix}`).replace(/\/$/, '');
  const key = parts.get('accountkey');
  const sas = parts.get('sharedaccesssignature');
  if (key) return { account, endpoint, auth: { kind: 'key', key: Buffer.from(key, 'base64') } };
  if (sas) return { account, endpoint, auth: { kind: 'sas', query: sas.replace(/^\?/, '') } };
  throw new CloudError('AZURE_STORAGE_CONNECTION_STRING holds neither an AccountKey nor a SharedAccessSignature', 'NoCredentials');
}

class AzureStore implements ObjectStore {
  // the Entra ID token, until a few minutes before it expires
  private token: Promise<{ token: string; expiresOnTimestamp: number }> | null = null;

  constructor(
    private readonly settings: AzureSettings,
    private readonly timeoutMs: number,
    private readonly clock: () => number,
  ) {}

  async stat(container: string, blob: string, signal?: AbortSignal): Promise<CloudObject | null> {
    const response = await this.send('HEAD', `/${container}/${encodePath(blob)}`, {}, { signal });
    response.cancel();
    // a missing container is an error; only a missing blob is "no such object"
    if (response.status === 404 && response.header('x-ms-error-code') === 'BlobNotFound') return null;
    await check(response);
    return {
      etag: response.header('etag'),
      version: response.header('x-ms-version-id'),
      size: Number(response.header('content-length') ?? -1),
      lastModified: response.header('last-modified'),
    };
  }

  async exists(container: string, blob: string, signal: AbortSignal): Promise<boolean> {
    return (await this.stat(container, blob, signal)) !== null;
  }

  async list(container: string, prefix: string, signal?: AbortSignal): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let marker: string | null = null;
    for (;;) {
      const query: Record<string, string> = { restype: 'container', comp: 'list', prefix };
      if (marker !== null) query.marker = marker;
      const response = await this.send('GET', `/${container}`, query, { signal });
      await check(response);
      const xml = await response.text();
      for (const item of xmlValues(xml, 'Blob')) {
        const etag = xmlValue(item, 'Etag');
        objects.push({
          key: xmlValue(item, 'Name') ?? '',
          etag,
          size: Number(xmlValue(item, 'Content-Length') ?? -1),
          modifiedMs: Date.parse(xmlValue(item, 'Last-Modified') ?? ''),
          match: etag ?? '',
        });
      }
      marker = xmlValue(xml, 'NextMarker');
      if (marker === null || marker === '') return objects;
    }
  }

  async read(container: string, blob: string, signal: AbortSignal): Promise<ObjectRead | null> {
    const response = await this.send('GET', `/${container}/${encodePath(blob)}`, {}, { signal });
    if (response.status === 404 && response.header('x-ms-error-code') === 'BlobNotFound') {
      response.cancel();
      return null;
    }
    await check(response);
    const length = response.header('content-length');
    const md5 = response.header('content-md5');
    return {
      body: response.body,
      match: response.header('etag') ?? '',
      ageMs: response.ageMs(),
      cancel: () => response.cancel(),
      size: length !== null && /^\d+$/.test(length) ? Number(length) : null,
      // set by the uploader, or by Azure for a blob put in one request
      md5: md5 !== null && /^[A-Za-z0-9+/]{22}==$/.test(md5) ? Buffer.from(md5, 'base64') : null,
    };
  }

  async write(container: string, blob: string, body: UploadBody, signal: AbortSignal, condition?: Condition): Promise<string | null> {
    const path = `/${container}/${encodePath(blob)}`;
    const parts = Buffer.isBuffer(body) ? null : partsOf(body.size);
    if (parts !== null && parts.length > 1 && condition === undefined) return this.writeInBlocks(path, body as Exclude<UploadBody, Buffer>, parts, signal);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    const headers: Record<string, string> = { 'x-ms-blob-type': 'BlockBlob', 'content-length': String(size), 'content-type': 'application/octet-stream' };
    if (condition !== undefined) {
      if ('absent' in condition) headers['if-none-match'] = '*';
      else headers['if-match'] = condition.match;
    }
    const response = await this.send('PUT', path, {}, { signal, headers, body: Buffer.isBuffer(body) ? body : () => body.open(0, body.size) });
    if (condition !== undefined && failedCondition(response)) {
      response.cancel();
      return null;
    }
    await check(response);
    response.cancel();
    return response.header('etag') ?? '';
  }

  async remove(container: string, blob: string, signal: AbortSignal, match?: string): Promise<boolean> {
    const response = await this.send('DELETE', `/${container}/${encodePath(blob)}`, {}, { signal, headers: match === undefined ? {} : { 'if-match': match } });
    response.cancel();
    if (failedCondition(response)) return false;
    if (response.status === 404 && response.header('x-ms-error-code') === 'BlobNotFound') return true;
    await check(response);
    return true;
  }

  // A large blob as blocks (Put Block, each streamed from the file) and a
  // block list that commits them: memory stays flat whatever the size, and
  // uncommitted blocks are dropped by Azure within a week.
  private async writeInBlocks(
    path: string,
    body: { size: number; open(start: number, end: number): Readable },
    parts: Array<{ start: number; end: number }>,
    signal: AbortSignal,
  ): Promise<string> {
    const ids = parts.map((_, i) => Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64'));
    for (const [i, part] of parts.entries()) {
      const response = await this.send('PUT', path, { comp: 'block', blockid: ids[i]! }, {
        signal,
        headers: { 'content-length': String(part.end - part.start) },
        body: () => body.open(part.start, part.end),
      });
      await check(response);
      response.cancel();
    }
    const xml = Buffer.from(`<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`);
    const committed = await this.send('PUT', path, { comp: 'blocklist' }, {
      signal,
      headers: { 'content-length': String(xml.length), 'content-type': 'application/xml', 'x-ms-blob-content-type': 'application/octet-stream' },
      body: xml,
    });
    await check(committed);
    committed.cancel();
    return committed.header('etag') ?? '';
  }

  private async send(
    method: string,
    path: string,
    query: Record<string, string>,
    options: { signal?: AbortSignal | undefined; headers?: Record<string, string>; body?: Buffer | (() => Readable) } = {},
  ): Promise<Reply> {
    const { settings } = this;
    const url = new URL(`${settings.endpoint}${path}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const headers: Record<string, string> = { ...options.headers, 'x-ms-date': new Date(this.clock()).toUTCString(), 'x-ms-version': VERSION };
    switch (settings.auth.kind) {
      case 'key':
        headers.authorization = `SharedKey ${settings.account}:${sharedKeySignature(method, url, headers, settings.account, settings.auth.key)}`;
        break;
      case 'sas':
        for (const [name, value] of new URLSearchParams(settings.auth.query)) url.searchParams.set(name, value);
        break;
      case 'entra':
        headers.authorization = `Bearer ${await this.entraToken()}`;
        break;
    }
    try {
      return await send(url, { method, headers, body: options.body, signal: options.signal ?? AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const failure = describeFetchFailure(err, this.timeoutMs);
      throw new CloudError(failure.message, failure.code);
    }
  }

  private async entraToken(): Promise<string> {
    const held = await this.token?.catch(() => null);
    if (held && held.expiresOnTimestamp - this.clock() > 5 * 60 * 1000) return held.token;
    this.token = (async () => {
      const { DefaultAzureCredential } = await import('@azure/identity');
      try {
        return await new DefaultAzureCredential().getToken('https://storage.azure.com/.default');
      } catch (err) {
        throw new CloudError(
          `no Microsoft Entra ID credentials (${(err as Error).message.split('\n')[0]}); \`az login\`, AZURE_STORAGE_KEY or a connection string gives some`,
          'NoCredentials',
        );
      }
    })();
    return (await this.token).token;
  }
}

// 412 ConditionNotMet; 409 BlobAlreadyExists (If-None-Match: * on a blob
// that is there)
function failedCondition(response: Reply): boolean {
  return response.status === 412 || (response.status === 409 && response.header('x-ms-error-code') === 'BlobAlreadyExists');
}

// An answer that is not a success, as a CloudError with Azure's own code.
async function check(response: Reply): Promise<void> {
  if (response.ok) return;
  const body = await response.text().catch(() => '');
  const code = response.header('x-ms-error-code') ?? xmlValue(body, 'Code') ?? `HTTP ${response.status}`;
  throw new CloudError(code, code, response.status);
}

function encodePath(blob: string): string {
  return blob.split('/').map(encodeURIComponent).join('/');
}

// The Shared Key signature of a request (Azure Storage's "Authorize with
// Shared Key"): an HMAC-SHA256 of its canonical form.
export function sharedKeySignature(method: string, url: URL, headers: Record<string, string>, account: string, key: Buffer): string {
  const lower = Object.fromEntries(Object.entries(headers).map(([n, v]) => [n.toLowerCase(), v]));
  const standard = [
    'content-encoding',
    'content-language',
    'content-length',
    'content-md5',
    'content-type',
    'date',
    'if-modified-since',
    'if-match',
    'if-none-match',
    'if-unmodified-since',
    'range',
  ].map((name) => (name === 'content-length' && lower[name] === '0' ? '' : (lower[name] ?? '')));
  const msHeaders = Object.keys(lower)
    .filter((n) => n.startsWith('x-ms-'))
    .sort()
    .map((n) => `${n}:${lower[n]!.trim()}\n`)
    .join('');
  const params = new Map<string, string[]>();
  for (const [name, value] of url.searchParams) params.set(name.toLowerCase(), [...(params.get(name.toLowerCase()) ?? []), value]);
  const query = [...params.keys()]
    .sort()
    .map((name) => `\n${name}:${params.get(name)!.sort().join(',')}`)
    .join('');
  // the path as sent, encoded
  const resource = `/${account}${url.pathname}${query}`;
  const toSign = [method, ...standard, `${msHeaders}${resource}`].join('\n');
  return createHmac('sha256', key).update(toSign, 'utf8').digest('base64');
}
