import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

// A server that hangs: it accepts TCP connections on a free port of
// 127.0.0.1 and never writes a byte. It counts the connections, and those
// on which something was asked (a client may open one and send nothing).
export class HangingServer {
  connections = 0;
  asked = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<HangingServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hanging = new HangingServer(server, (server.address() as AddressInfo).port);
    server.on('connection', (socket) => {
      hanging.connections += 1;
      hanging.sockets.add(socket);
      socket.once('data', () => (hanging.asked += 1));
      socket.on('error', () => {});
      socket.on('close', () => hanging.sockets.delete(socket));
    });
    return hanging;
  }

  // as a Redis remote
  url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
