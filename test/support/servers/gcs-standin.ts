import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A STAND-IN for Google Cloud Storage: no GCS emulator can be installed
// here, so this small server speaks the part of the GCS JSON API that dcache
// uses, as Google documents it: object metadata (GET /storage/v1/b/B/o/O),
// listings with prefixes and page tokens (GET /storage/v1/b/B/o), media
// downloads (alt=media), uploads (POST /upload/storage/v1/b/B/o, media
// and resumable), deletes, and the ifGenerationMatch precondition
// (412 when it fails). Errors have GCS's JSON shape. It keeps objects in
// memory; `put` and `remove` let a test change the bucket behind dcache's back.
// dcache reaches it through STORAGE_EMULATOR_HOST, as Google's own tools do.

interface StoredObject {
  bytes: Buffer;
  generation: number;
  updated: string;
}

export class GcsStandIn {
  readonly buckets = new Map<string, Map<string, StoredObject>>();
  // requests seen, "METHOD path", for tests that count them
  readonly seen: string[] = [];
  // listings return at most this many items a page, each after this long
  pageSize = 1000;
  pageDelayMs = 0;
  // called with each request as it arrives
  onRequest: (what: string) => void = () => {};
  // a status to answer a request ("METHOD path", decoded) with instead of
  // doing it, or null to do it
  refuse: (what: string) => number | null = () => null;
  private nextGeneration = 1_700_000_000_000_000;
  // resumable uploads in progress
  private readonly sessions = new Map<string, { bucket: string; name: string; chunks: Buffer[]; ifGenerationMatch: string | null }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<GcsStandIn> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const standIn = new GcsStandIn(server, (server.address() as AddressInfo).port);
    server.on('request', (req, res) => standIn.handle(req, res));
    return standIn;
  }

  // The value of STORAGE_EMULATOR_HOST that points at it.
  get host(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  put(bucket: string, name: string, bytes: Buffer | string): StoredObject {
    const objects = this.bucket(bucket, true)!;
    const object = { bytes: Buffer.from(bytes), generation: this.nextGeneration++, updated: new Date().toISOString() };
    objects.set(name, object);
    return object;
  }

  remove(bucket: string, name: string): void {
    this.buckets.get(bucket)?.delete(name);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private bucket(name: string, create = false): Map<string, StoredObject> | undefined {
    if (create && !this.buckets.has(name)) this.buckets.set(name, new Map());
    return this.buckets.get(name);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://standin');
    this.seen.push(`${req.method} ${url.pathname}`);
    this.onRequest(`${req.method} ${url.pathname}`);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const refused = this.refuse(decodeURIComponent(`${req.method} ${url.pathname}`));
      if (refused !== null) return error(res, refused, 'backendError', 'refused by the test');
      try {
        this.route(req.method ?? 'GET', url, Buffer.concat(chunks), req, res);
      } catch (err) {
        error(res, 500, 'backendError', (err as Error).message);
      }
    });
  }

  private route(method: string, url: URL, body: Buffer, req: IncomingMessage, res: ServerResponse): void {
    const objectPath = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
    const listPath = /^\/storage\/v1\/b\/([^/]+)\/o\/?$/.exec(url.pathname);
    const uploadPath = /^\/upload\/storage\/v1\/b\/([^/]+)\/o\/?$/.exec(url.pathname);
    if (objectPath) {
      const bucket = decodeURIComponent(objectPath[1]!);
      const name = decodeURIComponent(objectPath[2]!);
      const objects = this.bucket(bucket);
      if (!objects) return error(res, 404, 'notFound', `The specified bucket does not exist.`);
      const object = objects.get(name);
      if (method === 'DELETE') {
        if (!object) return error(res, 404, 'notFound', `No such object: ${bucket}/${name}`);
        if (!generationMatches(url, object)) return error(res, 412, 'conditionNotMet', 'Precondition Failed');
        objects.delete(name);
        res.writeHead(204);
        return void res.end();
      }
      if (!object) return error(res, 404, 'notFound', `No such object: ${bucket}/${name}`);
      if (url.searchParams.get('alt') === 'media') {
        // as GCS answers a download: the stored hashes of the object
        const md5 = createHash('md5').update(object.bytes).digest('base64');
        res.writeHead(200, { 'content-length': String(object.bytes.length), 'x-goog-generation': String(object.generation), 'x-goog-hash': `crc32c=AAAAAA==,md5=${md5}` });
        return void res.end(object.bytes);
      }
      return json(res, 200, metadata(bucket, name, object));
    }
    if (listPath && method === 'GET') {
      const bucket = decodeURIComponent(listPath[1]!);
      const objects = this.bucket(bucket);
      if (!objects) return error(res, 404, 'notFound', `The specified bucket does not exist.`);
      const prefix = url.searchParams.get('prefix') ?? '';
      const names = [...objects.keys()].filter((n) => n.startsWith(prefix)).sort();
      const start = Number(url.searchParams.get('pageToken') ?? 0);
      const page = names.slice(start, start + this.pageSize);
      const next = start + this.pageSize < names.length ? String(start + this.pageSize) : undefined;
      const body = {
        kind: 'storage#objects',
        items: page.map((n) => metadata(bucket, n, objects.get(n)!)),
        ...(next ? { nextPageToken: next } : {}),
      };
      if (this.pageDelayMs > 0) return void setTimeout(() => json(res, 200, body), this.pageDelayMs);
      return json(res, 200, body);
    }
    if (uploadPath && method === 'POST') {
      const bucket = decodeURIComponent(uploadPath[1]!);
      const name = url.searchParams.get('name') ?? '';
      const type = url.searchParams.get('uploadType');
      if (type === 'media') return this.insert(res, bucket, name, body, url.searchParams.get('ifGenerationMatch'));
      if (type === 'resumable') {
        const id = createHash('sha256').update(`${bucket}/${name}/${Date.now()}/${Math.random()}`).digest('hex').slice(0, 16);
        this.sessions.set(id, { bucket, name, chunks: [], ifGenerationMatch: url.searchParams.get('ifGenerationMatch') });
        res.writeHead(200, { location: `${this.host}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}` });
        return void res.end();
      }
      return error(res, 400, 'invalid', `uploadType ${type} is not supported by this stand-in`);
    }
    if (uploadPath && method === 'PUT') {
      const session = this.sessions.get(url.searchParams.get('upload_id') ?? '');
      if (!session) return error(res, 404, 'notFound', 'No such upload');
      session.chunks.push(body);
      // Content-Range: bytes a-b/total, or bytes a-b/* for a chunk that is not the last
      const range = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(String(req.headers['content-range'] ?? ''));
      if (range && range[3] === '*') {
        res.writeHead(308, { range: `bytes=0-${range[2]}` });
        return void res.end();
      }
      this.sessions.delete(url.searchParams.get('upload_id')!);
      return this.insert(res, session.bucket, session.name, Buffer.concat(session.chunks), session.ifGenerationMatch);
    }
    return error(res, 404, 'notFound', `not a call this stand-in answers: ${method} ${url.pathname}`);
  }

  private insert(res: ServerResponse, bucket: string, name: string, bytes: Buffer, ifGenerationMatch: string | null): void {
    const objects = this.bucket(bucket);
    if (!objects) return error(res, 404, 'notFound', 'The specified bucket does not exist.');
    const current = objects.get(name);
    if (ifGenerationMatch !== null && String(current?.generation ?? 0) !== ifGenerationMatch) {
      return error(res, 412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
    }
    const object = this.put(bucket, name, bytes);
    json(res, 200, metadata(bucket, name, object));
  }
}

function generationMatches(url: URL, object: StoredObject): boolean {
  const wanted = url.searchParams.get('ifGenerationMatch');
  return wanted === null || wanted === String(object.generation);
}

function metadata(bucket: string, name: string, object: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/${object.generation}`,
    name,
    bucket,
    generation: String(object.generation),
    metageneration: '1',
    size: String(object.bytes.length),
    md5Hash: createHash('md5').update(object.bytes).digest('base64'),
    etag: Buffer.from(`etag-${object.generation}`).toString('base64'),
    updated: object.updated,
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function error(res: ServerResponse, status: number, reason: string, message: string): void {
  json(res, status, { error: { code: status, message, errors: [{ reason, message, domain: 'global' }] } });
}
