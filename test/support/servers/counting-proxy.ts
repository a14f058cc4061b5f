import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A proxy in front of a storage server that writes down every request it
// passes on ("GET /bucket/key?query"), so that a test counts downloads from
// the server's side rather than from what dcache says. Requests pass through
// byte for byte, headers included: the Host header dcache signed (SigV4)
// is the one the server sees. `breakDownloads` cuts matching answers short;
// `corruptDownloads` flips the first byte of each.
export class CountingProxy {
  readonly seen: string[] = [];
  // answers whose request this matches are cut off after their first chunk
  breakDownloads: (what: string) => boolean = () => false;
  corruptDownloads: (what: string) => boolean = () => false;
  // matching requests are never answered, or answered with a first chunk
  // and then nothing more, the connection held open
  hangDownloads: (what: string) => boolean = () => false;
  stallDownloads: (what: string) => boolean = () => false;
  // answers are sent at about this many bytes a second; null: at once
  bytesPerSecond: number | null = null;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: URL): Promise<CountingProxy> {
    let proxy: CountingProxy | null = null;
    const server = createServer((req, res) => {
      const what = `${req.method} ${req.url}`;
      proxy!.seen.push(what);
      if (proxy!.hangDownloads(what)) return;
      const stall = proxy!.stallDownloads(what);
      const cut = proxy!.breakDownloads(what);
      const corrupt = proxy!.corruptDownloads(what);
      const out = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          if (stall) {
            answer.once('data', (chunk: Buffer) => {
              res.write(chunk.subarray(0, 1));
              answer.destroy();
            });
            return;
          }
          if (corrupt) {
            let first = true;
            answer.on('data', (chunk: Buffer) => {
              if (first && chunk.length > 0) chunk = Buffer.concat([Buffer.from([chunk[0]! ^ 0xff]), chunk.subarray(1)]);
              first = false;
              res.write(chunk);
            });
            return void answer.on('end', () => res.end());
          }
          const rate = proxy!.bytesPerSecond;
          if (!cut && rate !== null) {
            answer.on('data', (chunk: Buffer) => {
              res.write(chunk);
              answer.pause();
              setTimeout(() => answer.resume(), (chunk.length / rate) * 1000);
            });
            return void answer.on('end', () => res.end());
          }
          if (!cut) return void answer.pipe(res);
          answer.once('data', (chunk: Buffer) => {
            res.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)));
            setTimeout(() => res.destroy(), 20);
            answer.destroy();
          });
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new CountingProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // the requests seen that `match`, and forgets them all
  take(match: (what: string) => boolean): string[] {
    const taken = this.seen.filter(match);
    this.seen.length = 0;
    return taken;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
