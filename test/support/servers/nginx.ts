import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect, freePort } from './ports.js';

// The nginx binary, or an error saying how to get one: the URL tests must
// fail, not skip, on a machine without it (CI installs it).
export function findNginx(): string {
  const which = spawnSync('/bin/sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  if (found !== '') return found;
  if (existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx';
  throw new Error(
    'nginx is not installed: the URL-watch end-to-end tests need a real nginx ' +
      '(apt-get install -y nginx-light, or nginx); .ci/run must install it',
  );
}

// A real nginx serving `<dir>/www` on a free port of 127.0.0.1, with its
// configuration, pid file, logs and temp paths all under `dir`. It runs in
// the foreground as one process (no master, no privilege drop), so it reads
// the private temp dir whoever runs the tests, and stops with its child.
// With `webdav`, it also takes PUT (creating directories on the way, no
// limit on a body's size), as docs/remote-cache.md configures the HTTP remote.
export class Nginx {
  private constructor(
    readonly www: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(dir: string, { webdav = false }: { webdav?: boolean } = {}): Promise<Nginx> {
    const binary = findNginx();
    const www = join(dir, 'www');
    const body = join(dir, 'body');
    for (const d of [www, body]) {
      mkdirSync(d, { recursive: true });
      // a worker may run as nobody: let it write what is PUT
      if (webdav) chmodSync(d, 0o777);
    }
    const server = webdav
      ? [
          '  server {',
          '    listen 127.0.0.1:PORT;',
          '    client_max_body_size 0;',
          '    location / {',
          `      root ${www};`,
          '      dav_methods PUT DELETE MKCOL;',
          '      create_full_put_path on;',
          '      dav_access user:rw group:rw all:rw;',
          '    }',
          '  }',
        ]
      : [`  server { listen 127.0.0.1:PORT; root ${www}; }`];
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
        ...server.map((line) => line.replace('PORT', String(port))),
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(binary, ['-p', dir, '-e', errorLog, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const nginx = new Nginx(www, port, child);
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
        throw new Error(`nginx did not start on 127.0.0.1:${port}: ${stderr}${log}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return nginx;
  }

  url(path = ''): string {
    return `http://127.0.0.1:${this.port}/${path}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
