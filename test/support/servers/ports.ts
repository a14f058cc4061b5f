import { connect, createServer, type AddressInfo } from 'node:net';

// TCP ports of 127.0.0.1 for the servers the tests start.

// A TCP port nobody listens on right now, on 127.0.0.1.
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// Whether something accepts a TCP connection on 127.0.0.1:port now.
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
