import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach } from '../fixture.js';
import { TestServer } from './test-server.js';

// A minimal WebDAV-like store in memory, as a handler for TestServer: GET,
// HEAD and PUT on paths, 404 for what it does not hold. `refuse` makes it
// answer a method with an error status instead.
export class MemoryDav {
  readonly files = new Map<string, Buffer>();
  refuse: Partial<Record<'GET' | 'HEAD' | 'PUT', number>> = {};
  // called on every PUT before it is answered
  onPut: (path: string) => void = () => {};
  // awaited on every GET of a file it holds before that GET is answered
  beforeGet: (path: string) => Promise<void> = async () => {};
  // how fast it reads a PUT's body and sends a GET's, as a far server would
  // (bytes per second; unlimited if not set)
  bytesPerSecond: number | null = null;

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
      req.on('data', (chunk: Buffer) => {
        body.push(chunk);
        if (this.bytesPerSecond === null) return;
        req.pause();
        setTimeout(() => req.resume(), (chunk.length / this.bytesPerSecond) * 1000);
      });
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
    if (method === 'GET') {
      void this.beforeGet(path).then(() => this.answer(method, file, res));
      return;
    }
    this.answer(method, file, res);
  };

  private answer(method: 'GET' | 'HEAD', file: Buffer, res: ServerResponse): void {
    res.writeHead(200, { 'content-length': String(file.length) });
    const rate = this.bytesPerSecond;
    if (method === 'HEAD' || rate === null) {
      res.end(method === 'HEAD' ? undefined : file);
      return;
    }
    // a slice every 50 ms at the set rate
    const slice = Math.max(1, Math.round(rate / 20));
    const send = (from: number) => {
      if (res.destroyed) return;
      if (from >= file.length) {
        res.end();
        return;
      }
      res.write(file.subarray(from, from + slice));
      setTimeout(() => send(from + slice), 50);
    };
    send(0);
  }
}

// For a describe block: one TestServer for the block, serving a fresh
// MemoryDav in each test, with the requests of earlier tests forgotten.
export function serveMemoryDav(): { readonly server: TestServer; readonly dav: MemoryDav } {
  const state = {} as { server: TestServer; dav: MemoryDav };
  beforeAll(async () => {
    state.server = await TestServer.start();
  });
  afterAll(async () => {
    await state.server?.stop();
  });
  beforeEach(() => {
    state.dav = new MemoryDav();
    state.server.handle(state.dav.handle);
    state.server.reset();
  });
  return state;
}
