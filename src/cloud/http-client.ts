import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

// The HTTP requests of the cloud clients, over node:http and node:https.
// Node's global fetch compiles its own HTTP stack the first time it is
// used: about 200 ms on a machine where `node -e 0` takes 100, against
// 30 ms for node:http (BENCHMARKS.md), and a check of one object is on
// every hit. Connections are kept alive between the requests of one call
// (listing pages, parts of an upload) and never keep the process alive.

const agents = {
  'http:': new HttpAgent({ keepAlive: true }),
  'https:': new HttpsAgent({ keepAlive: true }),
};

export interface SendOptions {
  method: string;
  headers?: Record<string, string>;
  // a body of known length: bytes, or a stream of `content-length` bytes
  // (opened only when the request is sent, when given as a function)
  body?: Buffer | Readable | (() => Buffer | Readable);
  // aborts the request, and the reading of its answer
  signal: AbortSignal;
}

// An answer whose body is yet to be read: read it (text, chunks) or drop it.
export class Reply {
  constructor(private readonly message: IncomingMessage) {}

  get status(): number {
    return this.message.statusCode ?? 0;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  header(name: string): string | null {
    const value = this.message.headers[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  // How long ago, at least, the object answered was last written, by the
  // server's clock alone: Date − Last-Modified, less a second, as both are
  // to the second. null if either is unsaid.
  ageMs(): number | null {
    const date = Date.parse(this.header('date') ?? '');
    const modified = Date.parse(this.header('last-modified') ?? '');
    return Number.isNaN(date) || Number.isNaN(modified) ? null : Math.max(0, date - modified - 1000);
  }

  // the body, chunk by chunk
  get body(): AsyncIterable<Buffer> {
    return this.message;
  }

  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.message) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  // drops the body unread (the connection is not reused)
  cancel(): void {
    this.message.destroy();
  }
}

// Sends one request; resolves once the status and headers are in. A
// network failure rejects with Node's error (its `code`: ECONNREFUSED...);
// the signal, with an AbortError.
export function send(url: URL, options: SendOptions): Promise<Reply> {
  const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
  const request = protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Reply>((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers ?? {}, agent: agents[protocol], signal: options.signal }, (message) =>
      resolve(new Reply(message)),
    );
    req.on('error', reject);
    const body = typeof options.body === 'function' ? options.body() : options.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (err) => req.destroy(err));
      // a request that fails, or is answered before its body is sent (412),
      // closes the file it was reading
      req.on('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(req);
    }
  });
}
