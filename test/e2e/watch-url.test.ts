import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFiles } from '../support/cache-files.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { beforeRecordedLine, plain } from '../support/messages.js';
import { startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { Nginx } from '../support/servers/nginx.js';
import { TestServer } from '../support/servers/test-server.js';

// Watched URLs end to end: a real nginx for the common case (static files
// with ETag, Last-Modified and Content-Length), and a server in this process
// for what nginx will not do on demand (no validators, errors, hangs,
// redirects, basic auth).

describe('--watch on a URL served by nginx', () => {
  let nginxDir: string;
  let nginx: Nginx;
  let served = 0;
  // A fresh file name per test: the server is shared by the tests of this block.
  let name: string;

  beforeAll(async () => {
    nginxDir = mkdtempSync(join(tmpdir(), 'dcache-e2e-nginx-'));
    nginx = await Nginx.start(nginxDir);
  });
  afterAll(async () => {
    await nginx?.stop();
    rmSync(nginxDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    name = `export-${++served}.csv`;
    writeFileSync(join(nginx.www, name), 'customer,amount\nacme,42\n');
  });

  const args = (fetch: { path: string }, ...more: string[]) => ['run', '-p', 'forever', '-w', nginx.url(name), ...more, '--', fetch.path];

  it('replays while the served file is unchanged', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    box.dcache(args(fetch));
    const hit = box.dcache(args(fetch));
    expect(fetch.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(hit.stdout.toString()).toBe('fetched\n');
    expect(hit.stderr).toBe('');
  });

  it('runs again once the served file is rewritten with new content', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    box.dcache(args(fetch));
    writeFileSync(join(nginx.www, name), 'customer,amount\nacme,42\nglobex,7\n');
    const r = box.dcache(args(fetch));
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    box.dcache(args(fetch));
    expect(fetch.runs()).toBe(2);
  });

  it('runs again once the served file gets a new mtime', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    box.dcache(args(fetch));
    utimesSync(join(nginx.www, name), new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
    box.dcache(args(fetch));
    expect(fetch.runs()).toBe(2);
  });

  it('runs every time while the file is gone, saying it could not be checked', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    box.dcache(args(fetch));
    rmSync(join(nginx.www, name));
    const r = box.dcache(args(fetch, '-v'));
    box.dcache(args(fetch));
    expect(fetch.runs()).toBe(3);
    expect(beforeRecordedLine(r.stderr)).toBe(
      `dcache: cannot check a watched source, so it counts as changed: ${nginx.url(name)} answered HEAD with 404 Not Found\n` +
        `dcache: miss (${nginx.url(name)} could not be checked: ${nginx.url(name)} answered HEAD with 404 Not Found); running ${fetch.path}\n`,
    );
  });

  it('checks with HEAD requests, never downloading the file', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    box.dcache(args(fetch));
    box.dcache(args(fetch));
    const log = readFileSync(join(nginxDir, 'access.log'), 'utf8');
    const mine = log.split('\n').filter((line) => line.includes(`/${name} `));
    expect(mine).toHaveLength(2);
    for (const line of mine) expect(line).toContain(`"HEAD /${name} HTTP/1.1" 200`);
  });

  it('shows the ETag, Last-Modified and Content-Length in --explain', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    box.dcache(args(fetch));
    const r = box.dcache(['status', '--explain', '-p', 'forever', '-w', nginx.url(name), '--', fetch.path]);
    expect(r.code).toBe(0);
    const line = r.stdout
      .toString()
      .split('\n')
      .find((l) => l.startsWith('watch '));
    const fingerprint = 'ETag "[0-9a-f]+-18", Last-Modified \\w{3}, \\d\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d GMT, Content-Length 24';
    expect(line).toMatch(new RegExp(`^watch ${nginx.url(name).replace(/[.]/g, '\\.')}: recorded ${fingerprint}; now ${fingerprint}: unchanged$`));
  });

  it('names what changed when the file is rewritten: ETag, Last-Modified and Content-Length, before and now', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    utimesSync(join(nginx.www, name), new Date('2024-08-26T10:00:00Z'), new Date('2024-08-26T10:00:00Z'));
    box.dcache(args(fetch));
    writeFileSync(join(nginx.www, name), 'customer,amount\nacme,42\nglobex,7\n');
    utimesSync(join(nginx.www, name), new Date('2024-08-27T10:00:00Z'), new Date('2024-08-27T10:00:00Z'));
    const r = box.dcache(args(fetch, '-v'));
    expect(fetch.runs()).toBe(2);
    // nginx's ETag is the mtime and the size in hexadecimal
    expect(beforeRecordedLine(r.stderr)).toBe(
      `dcache: miss (${nginx.url(name)} changed: ETag "66cc5220-18" → "66cda3a0-21", ` +
        'Last-Modified Mon, 26 Aug 2024 10:00:00 GMT → Tue, 27 Aug 2024 10:00:00 GMT, Content-Length 24 → 33); ' +
        `running ${fetch.path}\n`,
    );
  });
});

describe('--watch on a URL, against edge-case servers', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await TestServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(() => {
    server.reset();
  });

  const run = (box: Sandbox, fetch: { path: string }, url: string, ...more: string[]) =>
    startDcache(box, ['run', '-p', 'forever', '-w', url, ...more, '--', fetch.path]).done;

  // Answers HEAD with no validators at all and GET with a chunked body.
  const noValidators = (body: () => string) => (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/csv' });
    if (req.method === 'GET') {
      const text = body();
      res.write(text.slice(0, 3));
      res.write(text.slice(3));
    }
    res.end();
  };

  it('asks with GET when HEAD is refused, and uses its ETag without reading the body', async ({ box }) => {
    let etag = '"v1"';
    server.handle((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(403);
        res.end();
        return;
      }
      res.writeHead(200, { etag, 'content-type': 'text/csv' });
      res.end('acme,42\n');
    });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const url = server.url('/presigned.csv');
    const first = await run(box, fetch, url);
    const hit = await run(box, fetch, url);
    expect(fetch.runs()).toBe(1);
    for (const r of [first, hit]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
    }
    etag = '"v2"';
    await run(box, fetch, url);
    expect(fetch.runs()).toBe(2);
  });

  it('hashes the body of a GET when HEAD sends no validators, and warns once that it is costly', async ({ box }) => {
    server.handle(noValidators(() => 'acme,42\n'));
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const url = server.url('/plain.csv');
    const first = await run(box, fetch, url);
    const hit = await run(box, fetch, url);
    expect(fetch.runs()).toBe(1);
    const warning = `dcache: ${url} sends no ETag, Last-Modified or Content-Length: its whole body is downloaded and hashed at every check\n`;
    for (const r of [first, hit]) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('fetched\n');
      expect(plain(r.stderr)).toBe(warning);
    }
    expect(server.seen.filter((s) => s.method === 'GET')).toHaveLength(2);
  });

  it('runs again when a body without validators changes', async ({ box }) => {
    let body = 'acme,42\n';
    server.handle(noValidators(() => body));
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const url = server.url('/plain.csv');
    await run(box, fetch, url);
    body = 'acme,43\n';
    await run(box, fetch, url);
    expect(fetch.runs()).toBe(2);
  });

  for (const status of [404, 500]) {
    it(`runs every time a URL answers ${status}, saying with -v that it could not be checked`, async ({ box }) => {
      server.handle((_req, res) => {
        res.writeHead(status);
        res.end();
      });
      const fetch = box.counter('fetch.sh', 'echo fetched');
      const url = server.url('/broken.csv');
      const first = await run(box, fetch, url);
      const second = await run(box, fetch, url, '-v');
      expect(fetch.runs()).toBe(2);
      expect(first.code).toBe(0);
      expect(second.code).toBe(0);
      expect(second.stdout.toString()).toBe('fetched\n');
      expect(plain(second.stderr)).toMatch(
        new RegExp(`^dcache: cannot check a watched source, so it counts as changed: .*HEAD with ${status}.*\\ndcache: miss \\(${url.replace(/[.]/g, '\\.')} could not be checked: .*HEAD with ${status}`),
      );
    });
  }

  it('runs again when the server takes longer than --watch-timeout to answer', async ({ box }) => {
    let hang = false;
    server.handle((_req, res) => {
      if (hang) return; // never answers; stop() drops the connection
      res.writeHead(200, { etag: '"v1"' });
      res.end();
    });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const url = server.url('/slow.csv');
    await run(box, fetch, url, '--watch-timeout', '1s');
    hang = true;
    const r = await run(box, fetch, url, '--watch-timeout', '1s', '-v');
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(beforeRecordedLine(r.stderr)).toBe(
      `dcache: cannot check a watched source, so it counts as changed: ${url} did not answer within 1 s\n` +
        `dcache: miss (${url} could not be checked: ${url} did not answer within 1 s); running ${fetch.path}\n`,
    );
  });

  it('follows a redirect and watches the ETag of where it leads', async ({ box }) => {
    let etag = '"v1"';
    server.handle((req, res) => {
      if (req.url === '/latest.csv') {
        res.writeHead(302, { location: '/exports/2024-08-27.csv' });
        res.end();
      } else if (req.url === '/exports/2024-08-27.csv') {
        res.writeHead(200, { etag });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const url = server.url('/latest.csv');
    await run(box, fetch, url);
    const hit = await run(box, fetch, url);
    expect(fetch.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('fetched\n');
    expect(server.seen.map((s) => `${s.method} ${s.url}`)).toContain('HEAD /exports/2024-08-27.csv');
    etag = '"v2"';
    await run(box, fetch, url);
    expect(fetch.runs()).toBe(2);
  });

  it('falls back with --stale-if-error when the URL cannot be checked and the run fails', async ({ box }) => {
    let up = true;
    server.handle((_req, res) => {
      res.writeHead(up ? 200 : 503, { etag: '"v1"' });
      res.end();
    });
    const fetch = box.counter('fetch.sh', 'if [ -e broken ]; then echo "cannot fetch" >&2; exit 6; fi; echo fetched');
    const url = server.url('/flaky.csv');
    await run(box, fetch, url, '--stale-if-error');
    up = false;
    writeFileSync(box.path('broken'), '');
    const r = await run(box, fetch, url, '--stale-if-error');
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(plain(r.stderr)).toMatch(
      /^dcache: cannot check a watched source, so it counts as changed: .* answered HEAD with 503 Service Unavailable\ncannot fetch\ndcache: the command failed \(exit 6\); replaying the entry recorded /,
    );
  });

  describe('credentials in the URL', () => {
    const SECRET = 'hunter2-xyzzy';
    const expected = `Basic ${Buffer.from(`reporter:${SECRET}`).toString('base64')}`;

    beforeEach(() => {
      server.handle((req, res) => {
        if (req.headers.authorization !== expected) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="exports"' });
          res.end();
          return;
        }
        res.writeHead(200, { etag: '"v1"' });
        res.end();
      });
    });

    const url = () => server.url('/private.csv').replace('http://', `http://reporter:${SECRET}@`);
    const redacted = () => server.url('/private.csv').replace('http://', 'http://***@');

    it('sends them as basic auth', async ({ box }) => {
      const fetch = box.counter('fetch.sh', 'echo fetched');
      await run(box, fetch, url());
      const hit = await run(box, fetch, url());
      expect(fetch.runs()).toBe(1);
      expect(hit.stdout.toString()).toBe('fetched\n');
      expect(server.seen.length).toBeGreaterThan(0);
      for (const seen of server.seen) expect(seen.authorization).toBe(expected);
    });

    it('never writes the password to the cache directory', async ({ box }) => {
      const fetch = box.counter('fetch.sh', 'echo fetched');
      await run(box, fetch, url());
      await run(box, fetch, url());
      const files = listFiles(box.cacheDir);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const bytes = readFileSync(file);
        expect(bytes.includes(SECRET), file).toBe(false);
        expect(bytes.includes(expected.slice('Basic '.length)), file).toBe(false);
      }
    });

    it('never shows the password with -v or --explain', async ({ box }) => {
      const fetch = box.counter('fetch.sh', 'echo fetched');
      const miss = await run(box, fetch, url(), '-v', '--explain');
      const hit = await run(box, fetch, url(), '-v', '--explain');
      const status = await startDcache(box, ['status', '--explain', '-p', 'forever', '-w', url(), '--', fetch.path]).done;
      expect(fetch.runs()).toBe(1);
      for (const text of [miss.stderr, hit.stderr, status.stderr, status.stdout.toString()]) {
        expect(text).not.toContain(SECRET);
      }
      expect(plain(hit.stderr)).toContain(`dcache: watch ${redacted()}: recorded ETag "v1"; now ETag "v1": unchanged\n`);
      expect(status.stdout.toString()).toContain(`watch ${redacted()}: recorded ETag "v1"; now ETag "v1": unchanged\n`);
    });

    it('never shows the password when the URL is refused as invalid', ({ box }) => {
      const r = box.dcache(['run', '-w', `http://reporter:${SECRET}@[not-a-host/x.csv`, '--', 'true']);
      expect(r.code).toBe(125);
      expect(plain(r.stderr)).toBe("dcache: --watch 'http://***@[not-a-host/x.csv' is not a valid URL; watch one such as https://example.com/export.csv\n");
    });

    it('never shows the password when the URL cannot be checked', async ({ box }) => {
      const fetch = box.counter('fetch.sh', 'echo fetched');
      await run(box, fetch, url());
      server.handle((_req, res) => {
        res.writeHead(500);
        res.end();
      });
      const r = await run(box, fetch, url(), '-v', '--explain');
      expect(fetch.runs()).toBe(2);
      expect(r.stderr).not.toContain(SECRET);
      expect(plain(r.stderr)).toContain(`${redacted()} answered HEAD with 500`);
    });
  });
});
