import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Nginx } from './nginx.js';

// A real nginx with WebDAV on a free port of 127.0.0.1, the HTTP remote's
// reference server: it answers GET, HEAD and PUT on paths under `www`, with
// the configuration docs/remote-cache.md gives. Everything it writes stays
// under its own temp dir, removed when it stops.
export class WebDavServer {
  private constructor(
    readonly dir: string,
    private readonly nginx: Nginx,
  ) {}

  get www(): string {
    return this.nginx.www;
  }

  get port(): number {
    return this.nginx.port;
  }

  static async start(): Promise<WebDavServer> {
    const dir = mkdtempSync(join(tmpdir(), 'dcache-webdav-'));
    try {
      return new WebDavServer(dir, await Nginx.start(dir, { webdav: true }));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  // The URL of `path` (no leading slash) on this server.
  url(path = ''): string {
    return this.nginx.url(path);
  }

  async stop(): Promise<void> {
    await this.nginx.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
