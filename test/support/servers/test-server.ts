import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// An HTTP server on a free port of 127.0.0.1 whose answer the test sets with
// `handle`, and which remembers every request it saw. It shares the test's
// event loop: dcache must then run without blocking it (startDcache, not
// box.dcache).
export class TestServer {
  readonly seen: SeenRequest[] = [];
  private handler: Handler = (_req, res) => {
    res.writeHead(404);
    res.end();
  };

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<TestServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const test = new TestServer(server, (server.address() as AddressInfo).port);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      test.seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      test.handler(req, res);
    });
    return test;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  handle(handler: Handler): void {
    this.handler = handler;
  }

  reset(): void {
    this.seen.length = 0;
  }

  // Drops every connection, including requests left hanging on purpose.
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
