import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNginx, freePort } from '../e2e/servers.js';

// A real nginx with WebDAV on a free port of 127.0.0.1, the HTTP remote's
// reference server: it answers GET, HEAD and PUT on paths under `www`, with
// the configuration the README gives (PUT creates the directories on the way,
// no limit on a body's size). Everything it writes stays under its temp dir.

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class WebDavServer {
  private constructor(
    readonly dir: string,
    readonly www: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<WebDavServer> {
    const binary = findNginx();
    const dir = mkdtempSync(join(tmpdir(), 'dcache-webdav-'));
    const www = join(dir, 'www');
    const body = join(dir, 'body');
    // nginx may hand requests to a worker that runs as nobody: let it write.
    for (const d of [www, body]) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o777);
    }
    const port = await freePort();
    const errorLog = join(dir, 'error.log');
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        'daemon off;',
        'master_process off;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${errorLog};`,
        'events { worker_connections 64; }',
        'http {',
        `  access_log ${join(dir, 'access.log')};`,
        `  client_body_temp_path ${body};`,
        `  proxy_temp_path ${join(dir, 'proxy')};`,
        `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
        `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
        `  scgi_temp_path ${join(dir, 'scgi')};`,
        '  server {',
        `    listen 127.0.0.1:${port};`,
        '    client_max_body_size 0;',
        '    location / {',
        `      root ${www};`,
        '      dav_methods PUT DELETE MKCOL;',
        '      create_full_put_path on;',
        '      dav_access user:rw group:rw all:rw;',
        '    }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(binary, ['-p', dir, '-e', errorLog, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const server = new WebDavServer(dir, www, port, child);
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`nginx (WebDAV) did not start on 127.0.0.1:${port}: ${stderr}${log}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return server;
  }

  // The URL of `path` (no leading slash) on this server.
  url(path = ''): string {
    return `http://127.0.0.1:${this.port}/${path}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
