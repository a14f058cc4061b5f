import type { IncomingMessage, ServerResponse } from 'node:http';

// A minimal WebDAV-like store in memory, as a handler for TestServer: GET,
// HEAD and PUT on paths, 404 for what it does not hold. `refuse` makes it
// answer a method with an error status instead.
export class MemoryDav {
  readonly files = new Map<string, Buffer>();
  refuse: Partial<Record<'GET' | 'HEAD' | 'PUT', number>> = {};
  // called on every PUT before it is answered
  onPut: (path: string) => void = () => {};

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method as 'GET' | 'HEAD' | 'PUT';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const refused = this.refuse[method];
    if (refused !== undefined) {
      req.resume();
      res.writeHead(refused);
      res.end();
      return;
    }
    if (method === 'PUT') {
      const body: Buffer[] = [];
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => {
        this.onPut(path);
        this.files.set(path, Buffer.concat(body));
        res.writeHead(201);
        res.end();
      });
      return;
    }
    const file = this.files.get(path);
    if (file === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': String(file.length) });
    res.end(method === 'HEAD' ? undefined : file);
  };
}
