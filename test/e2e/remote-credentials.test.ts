import { filesHolding } from '../support/cache-files.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { machine, type Machine } from '../support/machines.js';
import { plain } from '../support/messages.js';
import { RedisBackend } from '../support/remotes.js';
import type { Sandbox } from '../support/sandbox.js';
import { serveMemoryDav } from '../support/servers/memory-dav.js';
import { freePort } from '../support/servers/ports.js';

// Credentials for the remote — basic auth in the URL, a bearer token in
// DCACHE_REMOTE_TOKEN, a Redis password — reach the server and nowhere else:
// never a cache directory, never stdout or stderr.

const PASSWORD = 'pw-7f3a9c1e5b';
const TOKEN = 'tok-4d8e2a6c0f';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// Two machines that share the remote.
let a: Machine;
let b: Machine;
beforeEach(({ box }) => {
  a = machine(box, 'a');
  b = machine(box, 'b');
});

// Every file in the sandbox (both machines' caches included) that holds `secret`.
const leaked = (box: Sandbox, secret: string) => filesHolding(box.root, secret);

describe('an HTTP remote', () => {
  const web = serveMemoryDav();

  const withAuth = () => web.server.url('/cache').replace('http://', `http://alice:${PASSWORD}@`);
  // The server runs in this process: dcache must not block the event loop.
  const runOn = (m: Machine, args: string[], env: NodeJS.ProcessEnv = {}) => m.start(args, env).done;

  it('sends the URL’s user and password as basic auth on every request', async ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    await runOn(a, ['run', '--remote', withAuth(), '--', script.path]);
    expect(web.server.seen.length).toBeGreaterThan(0);
    expect(new Set(web.server.seen.map((r) => r.authorization))).toEqual(new Set([basic('alice', PASSWORD)]));
  });

  it('sends DCACHE_REMOTE_TOKEN as a bearer token on every request', async ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    await runOn(a, ['run', '--remote', web.server.url('/cache'), '--', script.path], { DCACHE_REMOTE_TOKEN: TOKEN });
    expect(web.server.seen.length).toBeGreaterThan(0);
    expect(new Set(web.server.seen.map((r) => r.authorization))).toEqual(new Set([`Bearer ${TOKEN}`]));
  });

  it('writes the basic-auth password to no file on either machine', async ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    await runOn(a, ['run', '--remote', withAuth(), '--', script.path]);
    await runOn(b, ['run', '--remote', withAuth(), '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(leaked(box, PASSWORD)).toEqual([]);
    expect(leaked(box, basic('alice', PASSWORD).slice('Basic '.length))).toEqual([]);
  });

  it('writes the token to no file on either machine', async ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    const env = { DCACHE_REMOTE_TOKEN: TOKEN };
    await runOn(a, ['run', '--remote', web.server.url('/cache'), '--', script.path], env);
    await runOn(b, ['run', '--remote', web.server.url('/cache'), '--', script.path], env);
    expect(script.runs()).toBe(1);
    expect(leaked(box, TOKEN)).toEqual([]);
  });

  it('shows the remote as ***@ in verbose messages', async ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    await runOn(a, ['run', '--remote', withAuth(), '--', script.path]);
    const replayed = await runOn(b, ['run', '-v', '--remote', withAuth(), '--', script.path]);
    expect(plain(replayed.stderr)).toContain(`hit on the remote cache http://***@127.0.0.1:${web.server.port}/cache`);
    expect(replayed.stderr).not.toContain(PASSWORD);
  });

  it('prints neither the password nor the token when the remote refuses', async ({ box }) => {
    web.dav.refuse = { GET: 401, HEAD: 401, PUT: 401 };
    const script = box.counter('job.sh', 'echo data');
    const ran = await runOn(a, ['run', '-v', '--remote', withAuth(), '--', script.path], { DCACHE_REMOTE_TOKEN: TOKEN });
    expect(plain(ran.stderr)).toMatch(/dcache: the remote cache http:\/\/\*\*\*@127\.0\.0\.1:\d+\/cache failed/);
    expect(ran.stderr).not.toContain(PASSWORD);
    expect(ran.stderr).not.toContain(TOKEN);
  });

  it('prints no password when status finds the entry on the remote', async ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    await runOn(a, ['run', '--remote', withAuth(), '--', script.path]);
    const said = await runOn(b, ['status', '--remote', withAuth(), '--', script.path]);
    expect(plain(said.stdout.toString())).toContain('on the remote cache http://***@');
    expect(said.stdout.toString()).not.toContain(PASSWORD);
  });
});

it('prints no password when an HTTP remote with credentials is down', async ({ box }) => {
  const port = await freePort();
  const script = box.counter('job.sh', 'echo data');
  const ran = a.run(['run', '--remote', `http://alice:${PASSWORD}@127.0.0.1:${port}/cache`, '--', script.path]);
  expect(plain(ran.stderr)).toMatch(/^dcache: the remote cache http:\/\/\*\*\*@127\.0\.0\.1:\d+\/cache failed/);
  expect(ran.stderr).not.toContain(PASSWORD);
});

describe('a Redis remote that requires a password', () => {
  let redis: RedisBackend;
  beforeAll(async () => {
    redis = await RedisBackend.start(['--requirepass', PASSWORD]);
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    await redis.reset();
  });
  const withPassword = () => redis.urlWithAuth(`:${PASSWORD}@`);

  it('shares an entry between machines given the password in the URL', ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    a.run(['run', '--remote', withPassword(), '--', script.path]);
    const replayed = b.run(['run', '--remote', withPassword(), '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(replayed.stdout.toString()).toBe('data\n');
    expect(replayed.stderr).toBe('');
  });

  it('writes the password to no file on either machine', ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    a.run(['run', '--remote', withPassword(), '--', script.path]);
    b.run(['run', '--remote', withPassword(), '--', script.path]);
    expect(leaked(box, PASSWORD)).toEqual([]);
  });

  it('puts no password on stderr even with DEBUG=*', ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    const ran = a.run(['run', '-v', '--remote', withPassword(), '--', script.path], { DEBUG: '*' });
    expect(ran.stderr).not.toContain(PASSWORD);
  });

  it('warns, showing ***@ and not the password, when the password is wrong', ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    const ran = a.run(['run', '--remote', redis.urlWithAuth(`:wrong-${PASSWORD}@`), '--', script.path]);
    expect(plain(ran.stderr)).toMatch(/^dcache: the remote cache redis:\/\/\*\*\*@127\.0\.0\.1:\d+ failed \(.*\); going on without it\n$/);
    expect(ran.stderr).not.toContain(PASSWORD);
  });

  it('runs the command as usual when the password is wrong', ({ box }) => {
    const script = box.counter('job.sh', 'echo data');
    const ran = a.run(['run', '--remote', redis.urlWithAuth(':wrong@'), '--', script.path]);
    expect(ran.stdout.toString()).toBe('data\n');
    expect(ran.code).toBe(0);
  });
});

describe('a remote URL refused as misuse', () => {
  it('exits 125 when the password holds an unescaped slash', ({ box }) => {
    const ran = a.run(['run', '--remote', `redis://:pa/ss-${PASSWORD}@127.0.0.1:6379`, '--', 'true']);
    expect(ran.code).toBe(125);
  });

  it('does not print a password that holds an unescaped slash', ({ box }) => {
    const ran = a.run(['run', '--remote', `redis://:pa/ss-${PASSWORD}@127.0.0.1:6379`, '--', 'true']);
    expect(ran.stderr).toMatch(/^dcache: --remote /);
    expect(ran.stderr).not.toContain(PASSWORD);
  });

  it('does not print a password that holds an unescaped # (an HTTPS URL)', ({ box }) => {
    const ran = a.run(['run', '--remote', `https://bob:pa#ss-${PASSWORD}@cache.example.com/dcache`, '--', 'true']);
    expect(ran.stderr).toMatch(/^dcache: --remote /);
    expect(ran.stderr).not.toContain(PASSWORD);
  });

  it('does not print the part after an @ in the password of a URL of an unknown scheme', ({ box }) => {
    const ran = a.run(['run', '--remote', `ftp://bob:p@ss-${PASSWORD}@cache.example.com/dcache`, '--', 'true']);
    expect(ran.stderr).toMatch(/^dcache: --remote /);
    expect(ran.stderr).not.toContain(PASSWORD);
  });
});
