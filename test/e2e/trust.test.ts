import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { filesHolding, manifests, onlyEntry } from '../support/cache-files.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { machine, numberedReport, twoMachines } from '../support/machines.js';
import { plain } from '../support/messages.js';
import { type Backend, dropInlineCopies, type RedisBackend, remoteServers, type WebDavBackend } from '../support/remotes.js';
import { startDcache } from '../support/running.js';
import { TestServer } from '../support/servers/test-server.js';

// What comes out of a shared cache cannot hurt the machine that replays it:
// no setuid files, no links out of the working directory, no 64-bit hashes
// to collide, no secrets handed to the command, no remote that holds a run
// for ever, no signatures of presigned URLs on disk, and, with a signing
// key, nothing unsigned replayed.

const servers = remoteServers();
let redis: RedisBackend;
let webdav: WebDavBackend;
beforeAll(() => void ({ redis, webdav } = servers.started()));

// Two machines that share the remote.
const { a, b } = twoMachines();
beforeEach(async () => {
  await Promise.all([redis.reset(), webdav.reset()]);
});

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const modeOf = (path: string) => (statSync(path).mode & 0o7777).toString(8);
const dcacheLines = (stderr: string) => plain(stderr).split('\n').filter((l) => l.startsWith('dcache:'));

// Rewrites the one manifest a remote holds for `key` (as an attacker with
// write access to the remote would).
async function forge(backend: Backend, key: string, change: (m: Record<string, unknown>) => void): Promise<void> {
  const stored = JSON.parse((await backend.manifest(key))!.toString('utf8')) as Record<string, unknown>;
  change(stored);
  await backend.setManifest(key, Buffer.from(JSON.stringify(stored)));
}

describe.each(servers.backends)('an entry from %s', (_name, backendOf) => {
  let backend: Backend;
  beforeEach(() => {
    backend = backendOf();
  });
  const run = (path: string, ...options: string[]) => ['run', '--remote', backend.url(), ...options, '--', path];

  it('restores a setuid and setgid program without those bits, keeping the others', ({ box }) => {
    const script = box.counter('make-tool.sh', 'cp /bin/sh tool; chmod 6755 tool');
    expect(a.run(run(script.path, '-o', 'tool')).code).toBe(0);
    rmSync(box.path('tool'));
    const replayed = b.run(run(script.path, '-o', 'tool'));
    expect(replayed.code).toBe(0);
    expect(script.runs()).toBe(1);
    expect(modeOf(box.path('tool'))).toBe('755');
  });

  it('restores under the umask and without setuid and setgid a file whose mode was edited to 6777 on the remote', async ({ box }) => {
    const script = box.counter('make-tool.sh', 'cp /bin/sh tool; chmod 755 tool');
    a.run(run(script.path, '-o', 'tool'));
    const { key } = onlyEntry(a.cacheDir);
    await forge(backend, key, (m) => ((m.outputs as Array<{ mode: number }>)[0]!.mode = 0o6777));
    rmSync(box.path('tool'));
    expect(b.run(run(script.path, '-o', 'tool')).code).toBe(0);
    expect(script.runs()).toBe(1);
    expect(modeOf(box.path('tool'))).toBe((0o777 & ~process.umask()).toString(8));
  });

  for (const target of ['/etc/hostname', '../../outside', 'sub/../../outside']) {
    it(`refuses as a whole, with one warning, an entry whose output is a symlink to ${target}`, async ({ box }) => {
      const script = box.counter('write.sh', 'echo data > out');
      a.run(run(script.path, '-o', 'out'));
      const { key } = onlyEntry(a.cacheDir);
      await forge(backend, key, (m) => (m.outputs = [{ path: 'out', type: 'symlink', target }]));
      rmSync(box.path('out'));
      const ran = b.run(run(script.path, '-o', 'out'));
      expect(ran.code).toBe(0);
      expect(script.runs()).toBe(2);
      expect(dcacheLines(ran.stderr)).toEqual([
        `dcache: refused a cache entry whose output 'out' is a symlink to '${target}', which leads out of the working directory; running the command`,
      ]);
      // what is there is the command's own file, not a link
      expect(lstatSync(box.path('out')).isSymbolicLink()).toBe(false);
    });
  }

  it('is a miss when the remote answers a blob with another valid blob, and the next upload replaces it', async ({ box }) => {
    // two blobs of one size: only their hashes tell them apart
    const script = box.counter('report.sh', "echo 'report one'; echo 'report two' >&2");
    a.run(run(script.path));
    const entry = onlyEntry(a.cacheDir);
    await dropInlineCopies(backend, entry.key);
    // the stdout blob's name now serves the stderr blob's bytes, intact
    await backend.setBlob(entry.stdout!.hash, (await backend.blob(entry.stderr!.hash))!);
    const ran = b.run(run(script.path));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report one\n');
    expect(dcacheLines(ran.stderr)).toEqual([
      `dcache: ignored an entry on ${backend.url()}: blob ${entry.stdout!.hash.slice(0, 16)} does not match its hash`,
    ]);
    expect(await backend.blob(entry.stdout!.hash)).toEqual(Buffer.from('report one\n'));
    const replayed = machine(box, 'c').run(run(script.path));
    expect(script.runs()).toBe(2);
    expect(replayed.stdout.toString()).toBe('report one\n');
  });
});

describe('symlinks recorded on this machine', () => {
  it('are replayed here, and are not shared with the remote', ({ box }) => {
    const script = box.counter('link.sh', 'ln -sf /etc/hostname link');
    const recorded = a.run(['run', '-v', '--remote', webdav.url(), '-o', 'link', '--', script.path]);
    expect(plain(recorded.stderr)).toContain(`dcache: not shared with ${webdav.url()}: an output is a symlink that leads out of the working directory`);
    rmSync(box.path('link'));
    expect(a.run(['run', '--remote', webdav.url(), '-o', 'link', '--', script.path]).code).toBe(0);
    expect(readlinkSync(box.path('link'))).toBe('/etc/hostname');
    expect(script.runs()).toBe(1);
    rmSync(box.path('link'));
    b.run(['run', '--remote', webdav.url(), '-o', 'link', '--', script.path]);
    expect(script.runs()).toBe(2);
  });
});

describe('local entries', () => {
  it('restore a setuid file without its setuid and setgid bits', ({ box }) => {
    const script = box.counter('make-tool.sh', 'cp /bin/sh tool; chmod 4755 tool');
    box.dcache(['run', '-o', 'tool', '--', script.path]);
    expect(modeOf(box.path('tool'))).toBe('4755');
    rmSync(box.path('tool'));
    expect(box.dcache(['run', '-o', 'tool', '--', script.path]).code).toBe(0);
    expect(script.runs()).toBe(1);
    expect(modeOf(box.path('tool'))).toBe('755');
  });

  it('name blobs, stdin and environment values by SHA-256', ({ box }) => {
    const script = box.counter('cat.sh', 'cat; echo "$TOKEN" >&2');
    box.dcache(['run', '--stdin', '-e', 'TOKEN', '--', script.path], { input: 'the query\n', env: { TOKEN: 'tok' } });
    const entry = onlyEntry(box.cacheDir) as unknown as {
      stdout: { hash: string };
      stderr: { hash: string };
      material: { stdin: string; env: Array<[string, string]> };
    };
    expect(entry.stdout.hash).toBe(sha256('the query\n'));
    expect(entry.stderr.hash).toBe(sha256('tok\n'));
    expect(entry.material.stdin).toBe(sha256('the query\n'));
    expect(entry.material.env[0]![1]).toMatch(/^[0-9a-f]{64}$/);
    expect(entry.material.env[0]![1]).not.toBe(sha256('tok'));
  });
  it('keep apart two stdins even when one entry sits under the other’s name, as a 64-bit collision of keys would put it', ({ box }) => {
    // Entry names are 64-bit; what decides a hit is the SHA-256 key material
    // inside. Moving B's manifest to A's name is what a collision would do.
    const script = box.counter('cat.sh', 'cat');
    box.dcache(['run', '--stdin', '--', script.path], { input: 'stdin A\n' });
    const [pathA] = manifests(box.cacheDir);
    renameSync(pathA!, `${pathA}.aside`);
    box.dcache(['run', '--stdin', '--', script.path], { input: 'stdin B\n' });
    const [pathB] = manifests(box.cacheDir);
    renameSync(pathB!, pathA!);
    const ran = box.dcache(['run', '--stdin', '--', script.path], { input: 'stdin A\n' });
    expect(ran.stdout.toString()).toBe('stdin A\n');
    expect(script.runs()).toBe(3);
    const stored = JSON.parse(readFileSync(pathA!, 'utf8')) as { material: { stdin: string } };
    expect(stored.material.stdin).toBe(sha256('stdin A\n'));
  });
});

describe('the wrapped command and the probes', () => {
  const secrets = {
    DCACHE_REMOTE_TOKEN: 'token-3fd1c2',
    DCACHE_SIGNING_KEY: 'signing-key-1b9e0a7c44',
    DCACHE_SIGNING_KEY_FILE: '/nonexistent/key-file-7aa2',
  };

  it('never see dcache’s remote URL, token or signing key, and neither does what is recorded and shared', ({ box }) => {
    const url = redis.urlWithAuth(':pw-9c1e7b@');
    const probe = box.path('probe-env');
    const ran = box.dcache(['run', '--watch-cmd', `env > '${probe}'`, '--', 'env'], {
      env: { ...secrets, DCACHE_SIGNING_KEY_FILE: undefined, DCACHE_REMOTE: url, KEEP_ME: 'yes' },
    });
    expect(ran.code).toBe(0);
    const seen = ran.stdout.toString();
    expect(seen).toContain('KEEP_ME=yes');
    for (const text of [seen, readFileSync(probe, 'utf8')]) {
      expect(text).not.toMatch(/DCACHE_REMOTE|DCACHE_SIGNING_KEY|pw-9c1e7b|token-3fd1c2|signing-key-1b9e0a7c44/);
    }
    expect(filesHolding(box.cacheDir, 'pw-9c1e7b')).toEqual([]);
  });
});

describe('a dripping or slow HTTP remote', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  // Answers every GET with headers at once, then one byte every 1.5 s.
  const drip = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET') {
      req.resume();
      res.writeHead(req.method === 'PUT' ? 201 : 404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': '1000' });
    const timer = setInterval(() => res.write('{'), 1500);
    res.on('close', () => clearInterval(timer));
  };

  it('costs at most the remote timeout for a manifest that drips, and the command runs', async ({ box }) => {
    server.handle(drip);
    const ran = await startDcache(box, ['run', '--remote', server.url('/cache'), '--', 'echo', 'hi']).done;
    expect(ran.code).toBe(0);
    expect(ran.stdout.toString()).toBe('hi\n');
    expect(dcacheLines(ran.stderr)).toEqual([
      expect.stringMatching(/^dcache: the remote cache http:\/\/127\.0\.0\.1:\d+\/cache failed \(.*GET entries\/[0-9a-f]{16}\.json did not finish within 2 s\); going on without it$/),
    ]);
  });

  it('closes its stdout before the upload, so a reader sees the end of the output while dcache uploads', async ({ box }) => {
    // The first upload is held until the test releases it; the rest pass.
    let release: (() => void) | null = null;
    const putSeen = new Promise<void>((resolve) => {
      server.handle((req, res) => {
        req.resume();
        const answer = () => {
          res.writeHead(req.method === 'PUT' ? 201 : 404);
          res.end();
        };
        if (req.method === 'PUT' && release === null) {
          release = answer;
          resolve();
          return;
        }
        answer();
      });
    });
    const running = startDcache(box, ['run', '--remote', server.url('/cache'), '--remote-timeout', '30s', '--', 'echo', 'hi']);
    await putSeen;
    await running.stdoutEnd;
    // the upload is still waiting for its answer, and dcache for the upload
    expect(running.child.exitCode).toBeNull();
    release!();
    const done = await running.done;
    expect(done.code).toBe(0);
    expect(done.stdout.toString()).toBe('hi\n');
  });
});

describe('a watched presigned URL', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start();
    server.handle((req, res) => {
      res.writeHead(200, { etag: '"v1"', 'content-length': '4' });
      res.end(req.method === 'HEAD' ? undefined : 'data');
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const signed = (signature: string) =>
    server.url(
      `/exports/customers.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260301&X-Amz-Date=20260301T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=${signature}`,
    );

  // The server runs in this process: dcache is run without blocking it.
  it('keeps its signature and credential out of the cache, -v, --explain, ls and show', async ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    const url = signed('c0ffee5ecret1');
    const ran = await startDcache(box, ['run', '-v', '--explain', '-p', 'forever', '-w', url, '--', script.path]).done;
    expect(ran.code).toBe(0);
    const { key } = onlyEntry(box.cacheDir);
    const shown = [
      ran.stderr,
      box.dcache(['ls']).stdout.toString(),
      box.dcache(['ls', '--json']).stdout.toString(),
      box.dcache(['show', key]).stdout.toString(),
      box.dcache(['show', '--json', key]).stdout.toString(),
      (await startDcache(box, ['status', '--explain', '-p', 'forever', '-w', url, '--', script.path]).done).stdout.toString(),
    ];
    for (const text of shown) {
      expect(text).not.toContain('c0ffee5ecret1');
      expect(text).not.toContain('AKIAEXAMPLE');
    }
    expect(plain(ran.stderr)).toContain('X-Amz-Signature=***');
    expect(filesHolding(box.cacheDir, 'c0ffee5ecret1')).toEqual([]);
    expect(filesHolding(box.cacheDir, 'AKIAEXAMPLE')).toEqual([]);
  });

  it('is the same source once re-signed, so the entry is a hit', async ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    await startDcache(box, ['run', '-p', 'forever', '-w', signed('first0signature'), '--', script.path]).done;
    const again = await startDcache(box, ['run', '-v', '-p', 'forever', '-w', signed('second0signature'), '--', script.path]).done;
    expect(again.code).toBe(0);
    expect(plain(again.stderr)).toMatch(/^dcache: hit: /);
    expect(script.runs()).toBe(1);
  });

  it('keeps the signature out of the message when the URL cannot be reached', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    const dead = signed('dead0signature').replace(/:\d+\//, ':9/');
    const ran = box.dcache(['run', '-v', '-p', 'forever', '-w', dead, '--', script.path]);
    expect(ran.code).toBe(0);
    expect(ran.stderr).not.toContain('dead0signature');
    expect(ran.stderr).toContain('X-Amz-Signature=***');
  });
});

describe('signed entries', () => {
  const KEY = 'team-key-0123456789abcdef';
  const OTHER = 'another-key-fedcba9876543210';
  const run = (path: string) => ['run', '-v', '--remote', webdav.url(), '--', path];
  const report = numberedReport;

  it('are replayed by a machine with the same key', ({ box }) => {
    const script = report(box);
    a.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    const replayed = b.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    expect(replayed.stdout.toString()).toBe('report 1\n');
    expect(plain(replayed.stderr)).toMatch(/^dcache: hit on the remote cache /);
    expect(script.runs()).toBe(1);
  });

  it('are a miss, with one -v line, for a machine with another key', ({ box }) => {
    const script = report(box);
    a.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    const ran = b.run(run(script.path), { DCACHE_SIGNING_KEY: OTHER });
    expect(ran.code).toBe(0);
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(plain(ran.stderr)).toContain(`dcache: ignored an entry on ${webdav.url()}: it is signed with a key this machine does not have\n`);
  });

  it('are replayed during a rotation by a machine that holds the new key and the old one', ({ box }) => {
    const script = report(box);
    a.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    const replayed = b.run(run(script.path), { DCACHE_SIGNING_KEY: `${OTHER},${KEY}` });
    expect(replayed.stdout.toString()).toBe('report 1\n');
    expect(script.runs()).toBe(1);
  });

  it('make unsigned entries a miss for a machine with a key', ({ box }) => {
    const script = report(box);
    a.run(run(script.path));
    const ran = b.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(plain(ran.stderr)).toContain('it is not signed, and this machine has a signing key');
  });

  it('are replayed by a machine without a key, as unsigned ones are', ({ box }) => {
    const script = report(box);
    a.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    expect(b.run(run(script.path)).stdout.toString()).toBe('report 1\n');
  });

  it('are a miss when the signed manifest was altered on the remote', async ({ box }) => {
    const script = report(box);
    a.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    const { key } = onlyEntry(a.cacheDir);
    const envelope = JSON.parse((await webdav.manifest(key))!.toString('utf8')) as { signed: string; signature: string };
    envelope.signed = envelope.signed.replace('"exitCode":0', '"exitCode":7');
    await webdav.setManifest(key, Buffer.from(JSON.stringify(envelope)));
    const ran = b.run(run(script.path), { DCACHE_SIGNING_KEY: KEY });
    expect(ran.code).toBe(0);
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(plain(ran.stderr)).toContain('its signature does not verify');
  });

  it('are read from a private key file named in the configuration', ({ box }) => {
    const script = report(box);
    const keyFile = box.path('signing.key');
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    writeFileSync(box.path('.dcache.json'), JSON.stringify({ signingKeyFile: 'signing.key' }));
    a.run(run(script.path));
    expect(b.run(run(script.path), { DCACHE_SIGNING_KEY: KEY }).stdout.toString()).toBe('report 1\n');
  });

  it('turn the remote off, with one warning, when the key is too short', ({ box }) => {
    const script = report(box);
    const ran = a.run(['run', '--remote', webdav.url(), '--', script.path], { DCACHE_SIGNING_KEY: 'short' });
    expect(ran.code).toBe(0);
    expect(dcacheLines(ran.stderr)).toEqual([
      `dcache: key 1 of DCACHE_SIGNING_KEY is shorter than 16 characters; use e.g. openssl rand -hex 32; not using the remote cache ${webdav.url()}`,
    ]);
  });
});
