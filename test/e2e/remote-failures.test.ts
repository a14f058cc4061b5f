import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { machine, type Machine } from '../support/machines.js';
import { plain } from '../support/messages.js';
import { RedisBackend } from '../support/remotes.js';
import type { Sandbox } from '../support/sandbox.js';
import { HangingServer } from '../support/servers/hanging-server.js';
import { serveMemoryDav } from '../support/servers/memory-dav.js';
import { freePort } from '../support/servers/ports.js';
import { TestServer } from '../support/servers/test-server.js';

// A remote that is down, slow or wrong never breaks the command: the run
// goes on locally with one warning, the remote is not asked again in that
// process, and a failed upload is a warning, never a failed run. Calls that
// meet a hanging remote must finish long before the rig's generous limit.

// Two machines that share the remote.
let a: Machine;
let b: Machine;
beforeEach(({ box }) => {
  a = machine(box, 'a');
  b = machine(box, 'b');
});

const job = (box: Sandbox) => box.counter('job.sh', 'echo data');

// The lines of stderr, without colour.
const linesOf = (stderr: string) => plain(stderr).split('\n').filter(Boolean);

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
// The one warning a failed remote is worth.
const remoteFailed = (url: string) => new RegExp(`^dcache: the remote cache ${escape(url)} failed \\(.+\\); going on without it$`);

describe.each([
  ['Redis', (port: number) => `redis://127.0.0.1:${port}`],
  ['HTTP', (port: number) => `http://127.0.0.1:${port}/cache`],
] as const)('a dead %s remote (a closed port)', (_name, urlFor) => {
  let url: string;
  beforeEach(async () => {
    url = urlFor(await freePort());
  });

  it('runs the command as if there were no remote', async ({ box }) => {
    const script = job(box);
    const ran = await a.start(['run', '--remote', url, '--', script.path]).done;
    expect(ran.timedOut).toBe(false);
    expect(ran.stdout.toString()).toBe('data\n');
    expect(ran.code).toBe(0);
  });

  it('warns once, naming the remote', async ({ box }) => {
    const ran = await a.start(['run', '--remote', url, '--', job(box).path]).done;
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(remoteFailed(url))]);
  });

  it('still records the run in the local cache', async ({ box }) => {
    const script = job(box);
    await a.start(['run', '--remote', url, '--', script.path]).done;
    const local = a.run(['run', '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(local.stdout.toString()).toBe('data\n');
  });

  it('does not stop a local hit', ({ box }) => {
    const script = job(box);
    a.run(['run', '--', script.path]);
    const hit = a.run(['run', '--remote', url, '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('data\n');
    expect(hit.stderr).toBe('');
  });
});

describe.each([
  ['Redis', (port: number) => `redis://127.0.0.1:${port}`],
  ['HTTP', (port: number) => `http://127.0.0.1:${port}/cache`],
] as const)('a hanging %s remote (accepts, never answers)', (_name, urlFor) => {
  let server: HangingServer;
  let url: string;
  beforeEach(async () => {
    server = await HangingServer.start();
    url = urlFor(server.port);
  });
  afterEach(async () => {
    await server.stop();
  });

  it('is given up after the default 2 s, and the command runs', async ({ box }) => {
    const script = job(box);
    const ran = await a.start(['run', '--remote', url, '--', script.path]).done;
    expect(ran.timedOut).toBe(false);
    expect(ran.stdout.toString()).toBe('data\n');
    expect(ran.code).toBe(0);
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(/within 2 s\b/)]);
  });

  it('is given up after --remote-timeout, and says so once', async ({ box }) => {
    const ran = await a.start(['run', '--remote', url, '--remote-timeout', '300ms', '--', job(box).path]).done;
    expect(ran.timedOut).toBe(false);
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(remoteFailed(url))]);
    expect(ran.stderr).toMatch(/within 0\.3 s\b/);
  });

  it('is asked only once in the process', async ({ box }) => {
    // the default deadline: a loaded machine may not send the first request within 300 ms
    await a.start(['run', '--remote', url, '--', job(box).path]).done;
    expect(server.asked).toBe(1);
  });

  it('does not stop the run from being recorded locally', async ({ box }) => {
    const script = job(box);
    await a.start(['run', '--remote', url, '--remote-timeout', '300ms', '--', script.path]).done;
    const local = a.run(['run', '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(local.stdout.toString()).toBe('data\n');
  });

  it('leaves status to answer from the local cache', async ({ box }) => {
    const said = await a.start(['status', '--remote', url, '--remote-timeout', '300ms', '--', job(box).path]).done;
    expect(said.timedOut).toBe(false);
    expect(said.stdout.toString()).toMatch(/^would run: /);
    expect(said.code).toBe(1);
  });
});

describe('a wrong remote', () => {
  let web: TestServer;
  beforeAll(async () => {
    web = await TestServer.start();
  });
  afterAll(async () => {
    await web?.stop();
  });

  it('runs the command when a redis:// URL reaches an HTTP server', async ({ box }) => {
    web.handle((_req, res) => res.end('hello'));
    const script = job(box);
    const ran = await a.start(['run', '--remote', `redis://127.0.0.1:${web.port}`, '--remote-timeout', '500ms', '--', script.path]).done;
    expect(ran.timedOut).toBe(false);
    expect(ran.stdout.toString()).toBe('data\n');
    expect(ran.code).toBe(0);
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(remoteFailed(`redis://127.0.0.1:${web.port}`))]);
  });

  it('runs the command when an HTTP server answers every path with a web page', async ({ box }) => {
    web.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>welcome</body></html>');
    });
    const script = job(box);
    const ran = await a.start(['run', '--remote', web.url('/cache'), '--', script.path]).done;
    expect(ran.stdout.toString()).toBe('data\n');
    expect(ran.code).toBe(0);
    expect(linesOf(ran.stderr)).toHaveLength(1);
  });
});

it('runs the command when an http:// URL reaches a Redis server', async ({ box }) => {
  const redis = await RedisBackend.start();
  try {
    const script = job(box);
    const ran = await a.start(['run', '--remote', `http://127.0.0.1:${redis.server.port}/cache`, '--remote-timeout', '500ms', '--', script.path])
      .done;
    expect(ran.timedOut).toBe(false);
    expect(ran.stdout.toString()).toBe('data\n');
    expect(ran.code).toBe(0);
    expect(linesOf(ran.stderr)).toHaveLength(1);
  } finally {
    await redis.stop();
  }
});

describe('uploads to an HTTP remote', () => {
  const web = serveMemoryDav();
  const url = () => web.server.url('/cache');
  const puts = () => web.server.seen.filter((r) => r.method === 'PUT').map((r) => r.url);

  it('happen after the command has finished', async ({ box }) => {
    const script = box.counter('job.sh', `echo data; echo done > '${box.path('finished')}'`);
    const finishedAtPut: boolean[] = [];
    web.dav.onPut = () => finishedAtPut.push(existsSync(box.path('finished')));
    await a.start(['run', '--remote', url(), '--', script.path]).done;
    expect(finishedAtPut.length).toBeGreaterThan(0);
    expect(finishedAtPut.every(Boolean)).toBe(true);
  });

  it('send every blob before the manifest', async ({ box }) => {
    const script = box.counter('job.sh', "echo out; echo err >&2; printf 'id\\n' > export.csv");
    await a.start(['run', '--remote', url(), '-o', 'export.csv', '--', script.path]).done;
    const sent = puts();
    expect(sent.slice(0, -1).every((u) => u.startsWith('/cache/blobs/'))).toBe(true);
    expect(sent.at(-1)).toMatch(/^\/cache\/entries\/[0-9a-f]{16}\.json$/);
  });

  it('send each of the run’s blobs', async ({ box }) => {
    const script = box.counter('job.sh', "echo out; echo err >&2; printf 'id\\n' > export.csv");
    await a.start(['run', '--remote', url(), '-o', 'export.csv', '--', script.path]).done;
    // stdout, stderr, their interleaving, the output file, the manifest
    expect(puts()).toHaveLength(5);
  });

  it('skip a blob the remote already holds', async ({ box }) => {
    await a.start(['run', '--remote', url(), '--', box.counter('one.sh', 'echo same').path]).done;
    web.server.reset();
    await a.start(['run', '--remote', url(), '--', box.counter('two.sh', 'echo same').path]).done;
    expect(puts().filter((u) => u.startsWith('/cache/blobs/'))).toEqual([]);
  });

  it('do not happen on a remote hit', async ({ box }) => {
    const script = job(box);
    await a.start(['run', '--remote', url(), '--', script.path]).done;
    web.server.reset();
    await b.start(['run', '--remote', url(), '--', script.path]).done;
    expect(puts()).toEqual([]);
  });

  it('do not happen when read-only', async ({ box }) => {
    await a.start(['run', '--remote', url(), '--remote-read-only', '--', job(box).path]).done;
    expect(web.server.seen.map((r) => r.method).filter((m) => m !== 'GET' && m !== 'HEAD')).toEqual([]);
  });

  describe('that fail', () => {
    beforeEach(() => {
      web.dav.refuse = { PUT: 507 };
    });

    it('leave the command’s stdout and exit code alone', async ({ box }) => {
      const script = job(box);
      const ran = await a.start(['run', '--remote', url(), '--', script.path]).done;
      expect(ran.stdout.toString()).toBe('data\n');
      expect(ran.code).toBe(0);
    });

    it('are one warning naming the remote', async ({ box }) => {
      const ran = await a.start(['run', '--remote', url(), '--', job(box).path]).done;
      expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(remoteFailed(url()))]);
    });

    it('leave a failing command’s exit code alone', async ({ box }) => {
      const script = box.counter('fail.sh', 'echo partial; exit 3');
      const ran = await a.start(['run', '--cache-failures', '--remote', url(), '--', script.path]).done;
      expect(ran.stdout.toString()).toBe('partial\n');
      expect(ran.code).toBe(3);
    });

    it('leave the run recorded locally', async ({ box }) => {
      const script = job(box);
      await a.start(['run', '--remote', url(), '--', script.path]).done;
      const local = a.run(['run', '--', script.path]);
      expect(script.runs()).toBe(1);
      expect(local.stdout.toString()).toBe('data\n');
    });

    it('leave no manifest on the remote', async ({ box }) => {
      await a.start(['run', '--remote', url(), '--', job(box).path]).done;
      expect([...web.dav.files.keys()]).toEqual([]);
    });
  });

  it('give up an upload that stalls, keeping the command’s output and exit code', async ({ box }) => {
    web.server.handle((req, res) => {
      // takes the upload's first bytes, then reads no more and never answers
      if (req.method === 'PUT') return req.pause();
      web.dav.handle(req, res);
    });
    const script = box.counter('big.sh', 'head -c 8000000 /dev/zero');
    const ran = await a.start(['run', '--remote', url(), '--remote-timeout', '300ms', '--', script.path]).done;
    expect(ran.timedOut).toBe(false);
    expect(ran.stdout.length).toBe(8_000_000);
    expect(ran.code).toBe(0);
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(remoteFailed(url()))]);
  });

  it('give up a blob download that stalls, and run the command', async ({ box }) => {
    const script = box.counter('big.sh', 'head -c 3000000 /dev/zero');
    await a.start(['run', '--remote', url(), '--', script.path]).done;
    web.server.handle((req, res) => {
      if (req.method === 'GET' && req.url?.startsWith('/cache/blobs/')) {
        // half the bytes, then silence
        res.writeHead(200, { 'content-length': '3000000' });
        res.write(Buffer.alloc(1_500_000));
        return;
      }
      web.dav.handle(req, res);
    });
    const ran = await b.start(['run', '--remote', url(), '--remote-timeout', '300ms', '--', script.path]).done;
    expect(ran.timedOut).toBe(false);
    expect(script.runs()).toBe(2);
    expect(ran.stdout.length).toBe(3_000_000);
    expect(ran.code).toBe(0);
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(remoteFailed(url()))]);
  });
});

describe('a Redis remote that refuses writes (out of memory)', () => {
  let redis: RedisBackend;
  beforeAll(async () => {
    redis = await RedisBackend.start(['--maxmemory', '1', '--maxmemory-policy', 'noeviction']);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('leaves the command’s stdout and exit code alone', async ({ box }) => {
    const script = job(box);
    const ran = await a.start(['run', '--remote', redis.url(), '--', script.path]).done;
    expect(ran.stdout.toString()).toBe('data\n');
    expect(ran.code).toBe(0);
  });

  it('is one warning naming the remote', async ({ box }) => {
    const ran = await a.start(['run', '--remote', redis.url(), '--', job(box).path]).done;
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(remoteFailed(redis.url()))]);
  });
});

describe('a misused remote option', () => {
  it('exits 125 for a URL of another scheme', ({ box }) => {
    const ran = a.run(['run', '--remote', 'ftp://cache.example.com/x', '--', job(box).path]);
    expect(ran.code).toBe(125);
  });

  it('names the option and the schemes it takes', ({ box }) => {
    const ran = a.run(['run', '--remote', 'ftp://cache.example.com/x', '--', job(box).path]);
    expect(plain(ran.stderr)).toBe(
      "dcache: --remote 'ftp://cache.example.com/x': use a redis://, rediss://, http://, https://, file://, s3://, gs:// or az:// URL\n",
    );
    expect(ran.stdout.toString()).toBe('');
  });

  it('does not run the command', ({ box }) => {
    const script = job(box);
    a.run(['run', '--remote', 'ftp://cache.example.com/x', '--', script.path]);
    expect(script.runs()).toBe(0);
  });

  it('names the modes ?mode= takes', ({ box }) => {
    const ran = a.run(['run', '--remote', 'redis://127.0.0.1:1?mode=readonly', '--', job(box).path]);
    expect(plain(ran.stderr)).toBe('dcache: --remote: mode=readonly is not a mode; use mode=ro or mode=rw\n');
    expect(ran.code).toBe(125);
  });

  it('names --remote-timeout when its value is not a duration', ({ box }) => {
    const ran = a.run(['run', '--remote', 'redis://127.0.0.1:1', '--remote-timeout', 'soon', '--', job(box).path]);
    expect(plain(ran.stderr)).toMatch(/^dcache: --remote-timeout 'soon' is not a duration; use a number and a unit: /);
    expect(ran.code).toBe(125);
  });

  it('warns about a DCACHE_REMOTE that fails the same check, and runs without it', ({ box }) => {
    const ran = a.run(['run', '--', job(box).path], { DCACHE_REMOTE: 'ftp://cache.example.com/x' });
    expect(plain(ran.stderr)).toMatch(/^dcache: DCACHE_REMOTE: 'ftp:\/\/cache\.example\.com\/x': use a redis:\/\/, rediss:\/\/, http:\/\/, https:\/\/, file:\/\/, s3:\/\/, gs:\/\/ or az:\/\/ URL; ignored\n$/);
    expect(ran.code).toBe(0);
  });

  it('makes status exit 2', ({ box }) => {
    const said = a.run(['status', '--remote', 'ftp://cache.example.com/x', '--', job(box).path]);
    expect(said.code).toBe(2);
  });
});

// A machine with more processes than cores (a cron minute that starts many
// jobs), or a process that was stopped, may not run while its request is
// answered. The deadline counts the time dcache could run: the answer that
// waited in its socket is taken, not given up on for being late.
describe('a process that does not run while the remote answers', () => {
  const web = serveMemoryDav();
  const url = () => web.server.url('/cache');

  it('takes the answer that arrived meanwhile (stopped for longer than --remote-timeout)', async ({ box }) => {
    const script = job(box);
    await a.start(['run', '--remote', url(), '--', script.path]).done;
    let stopped: number | null = null;
    web.dav.beforeGet = async (path) => {
      if (stopped !== null || !path.includes('/entries/')) return;
      // b is stopped as it asks for the entry, the answer is sent while it
      // is still stopped, and it is woken after that
      stopped = hitter.pid;
      process.kill(hitter.pid, 'SIGSTOP');
      setTimeout(() => process.kill(hitter.pid, 'SIGCONT'), 3000);
      await new Promise((resolve) => setTimeout(resolve, 2500));
    };
    const hitter = b.start(['run', '-v', '--remote', url(), '--remote-timeout', '1s', '--', script.path]);
    const hit = await hitter.done;
    expect(stopped).toBe(hitter.pid);
    expect(hit.stdout.toString()).toBe('data\n');
    expect(hit.code).toBe(0);
    expect(plain(hit.stderr)).toMatch(/^dcache: hit on the remote cache /m);
    expect(plain(hit.stderr)).not.toMatch(/going on without it/);
    expect(script.runs()).toBe(1);
  });

  it('still gives up on a remote that does not answer at all', async ({ box }) => {
    const script = job(box);
    await a.start(['run', '--remote', url(), '--', script.path]).done;
    web.dav.beforeGet = () => new Promise(() => {});
    const ran = await b.start(['run', '--remote', url(), '--remote-timeout', '300ms', '--', script.path]).done;
    expect(ran.timedOut).toBe(false);
    expect(linesOf(ran.stderr)).toEqual([expect.stringMatching(/within 0\.3 s\b/)]);
    expect(script.runs()).toBe(2);
  });
});
