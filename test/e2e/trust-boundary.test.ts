import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServerResponse } from 'node:http';
import { listFiles, manifests, onlyEntry, type StoredEntry } from '../support/cache-files.js';
import { afterAll, beforeAll, describe, expect, it } from '../support/fixture.js';
import { startDcache } from '../support/running.js';
import { TestServer } from '../support/servers/test-server.js';
import { machine } from '../support/machines.js';
import { CRASH, dcacheLines, plain } from '../support/messages.js';
import { dcacheWithin, type Sandbox } from '../support/sandbox.js';

// What a remote serves, or a cache directory holds, is bounded and judged
// before it is used: a document too deep or too long, a file or folder
// another user could have written, a cache that cannot be made, modes a
// remote chose. Each is a miss (or a run without the cache) with one line,
// never an internal error, and the command runs.

const remote = (box: Sandbox) => pathToFileURL(box.path('team-cache')).toString();
const NOBODY = 65534;

// `depth` arrays one inside the other: valid JSON that no walk of the
// parsed value survives.
const deepText = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

// Adds a field of this version's format that no version knows, nested 6,000
// deep (about 12 KB), to the manifest at `path`.
function nestDeep(path: string): void {
  const text = readFileSync(path, 'utf8');
  writeFileSync(path, `${text.slice(0, -1)},"unknownField":${deepText(6000)}}`);
}

describe('a manifest nested 6,000 deep in a field this version does not know', () => {
  it('on a remote is a miss with one line, not exit 125; the run that follows replaces it', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    const args = ['run', '--remote', remote(box), '--', script.path];
    expect(machine(box, 'a').run(args).code).toBe(0);
    nestDeep(manifests(box.path('team-cache'))[0]!);
    const b = machine(box, 'b').run(args);
    expect(b.stderr).not.toMatch(CRASH);
    expect(b.code).toBe(0);
    expect(b.stdout.toString()).toBe('fetched\n');
    expect(plain(b.stderr)).toBe(`dcache: ignored a garbled manifest on ${remote(box)}\n`);
    expect(script.runs()).toBe(2);
    // B shared its own entry in its place: C replays it
    const c = machine(box, 'c').run(args);
    expect(c.stdout.toString()).toBe('fetched\n');
    expect(c.stderr).toBe('');
    expect(script.runs()).toBe(2);
  });

  it('in the cache directory is a dropped entry with one line', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    nestDeep(manifests(box.cacheDir)[0]!);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(plain(r.stderr)).toBe('dcache: dropped a bad cache entry (garbled manifest (nested deeper than 32 levels)); running the command\n');
    expect(script.runs()).toBe(2);
  });
});

describe('a cache whose folders, manifests or blobs another user could have written', () => {
  // The top at 0711 (others may pass, not list or write), the folders in it
  // writable by all: user nobody could plant entries there.
  it('is not used when a folder in it may be written by others; the command runs', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    chmodSync(box.cacheDir, 0o711);
    chmodSync(join(box.cacheDir, 'entries'), 0o777);
    chmodSync(join(box.cacheDir, 'blobs'), 0o777);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toBe(
      `dcache: cannot use the cache directory ${box.cacheDir} (others may write to ${join(box.cacheDir, 'entries')} (mode 777)); running without the cache\n`,
    );
  });

  it('ignores, with one line, a manifest owned by another user, and replaces it', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    const [path] = manifests(box.cacheDir);
    chownSync(path!, NOBODY, NOBODY);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toBe(`dcache: ignored the cache entry: ${path} belongs to another user (uid ${NOBODY}); running the command\n`);
    // the run's own entry took its place, and is a hit
    expect(statSync(path!).uid).toBe(process.getuid!());
    expect(box.dcache(['run', '--', script.path]).stderr).toBe('');
    expect(script.runs()).toBe(2);
  });

  it('ignores a manifest that others may write (mode 0666), even with -q', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    const [path] = manifests(box.cacheDir);
    chmodSync(path!, 0o666);
    const r = box.dcache(['run', '-q', '--', script.path]);
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toBe(`dcache: ignored the cache entry: others may write to ${path} (mode 666); running the command\n`);
  });

  it('does not replay a blob owned by another user, and stores its own in its place', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    const blob = join(box.cacheDir, 'blobs', onlyEntry(box.cacheDir).stdout!.hash.slice(0, 2), onlyEntry(box.cacheDir).stdout!.hash);
    chownSync(blob, NOBODY, NOBODY);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toContain(`belongs to another user (uid ${NOBODY})`);
    expect(statSync(blob).uid).toBe(process.getuid!());
    expect(box.dcache(['run', '--', script.path]).stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
  });

  it('does not read a shared directory remote entry owned by another user', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    const args = ['run', '--remote', remote(box), '--', script.path];
    machine(box, 'a').run(args);
    for (const file of listFiles(box.path('team-cache', 'entries'))) chownSync(file, NOBODY, NOBODY);
    const r = machine(box, 'b').run(args);
    expect(r.code).toBe(0);
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toMatch(/^dcache: the remote cache file:\/\/.* failed \(.*belongs to another user \(uid 65534\)\); going on without it\n$/);
  });
});

describe('modes from a remote', () => {
  it('are restored under the umask, setuid and setgid dropped', ({ box }) => {
    const script = box.counter('make.sh', 'mkdir -p o/d && echo x > o/d/f && chmod 1777 o/d && chmod 6777 o/d/f; echo done');
    machine(box, 'a').run(['run', '--remote', remote(box), '-o', 'o', '--', script.path]);
    const b = box.shell(`rm -rf o && umask 027 && exec $DCACHE run --remote ${remote(box)} -o o -- ${script.path}`, { env: { DCACHE_DIR: box.path('cache-b') } });
    expect(b.code).toBe(0);
    expect(script.runs()).toBe(1);
    expect((statSync(box.path('o', 'd')).mode & 0o7777).toString(8)).toBe('1750');
    expect((statSync(box.path('o', 'd', 'f')).mode & 0o7777).toString(8)).toBe('750');
  });

  it('are restored as recorded, but for setuid and setgid, from an entry recorded here', ({ box }) => {
    const script = box.counter('make.sh', 'mkdir -p o && echo x > o/f && chmod 777 o/f; echo done');
    box.dcache(['run', '-o', 'o', '--', script.path]);
    const r = box.shell(`rm -rf o && umask 077 && exec $DCACHE run -o o -- ${script.path}`);
    expect(r.code).toBe(0);
    expect(script.runs()).toBe(1);
    expect((statSync(box.path('o', 'f')).mode & 0o777).toString(8)).toBe('777');
  });
});

describe('a cache directory that cannot be made', () => {
  it('under /proc/self is one line and a run without the cache, not a loop', ({ box }) => {
    const r = dcacheWithin(box, 20_000, ['run', '--dir', '/proc/self/x', '--', 'echo', 'hi']);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toMatch(/^dcache: cannot use the cache directory \/proc\/self\/x \(.*\); running without the cache\n$/);
  });

  it('gives ls and gc one line too', ({ box }) => {
    mkdirSync(box.path('x'));
    for (const command of [['ls'], ['gc'], ['stats']]) {
      const r = dcacheWithin(box, 20_000, [...command, '--dir', '/proc/self/x']);
      expect(r.signal).toBeNull();
      expect(r.stderr).not.toMatch(CRASH);
    }
  });
});

describe('a remote that claims a large blob, drips it or sends it slowly', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  // Records on machine A into a shared directory, then serves that entry
  // over HTTP: the manifest as `change` leaves it, each blob as `sendBlob`
  // sends it. What is not a GET is refused (B's remote is read-only).
  function serveEntry(box: Sandbox, body: string, change: (m: StoredEntry) => void, sendBlob: (bytes: Buffer, res: ServerResponse) => void) {
    const script = box.counter('fetch.sh', body);
    expect(machine(box, 'a').run(['run', '--remote', remote(box), '--', script.path]).code).toBe(0);
    const entry = onlyEntry(box.path('team-cache'));
    delete entry.inline;
    change(entry);
    server.reset();
    server.handle((req, res) => {
      const url = req.url ?? '';
      if (req.method === 'GET' && url === `/cache/entries/${entry.key}.json`) {
        res.writeHead(200);
        res.end(JSON.stringify(entry));
      } else if (req.method === 'GET' && url.startsWith('/cache/blobs/')) {
        const hash = url.slice('/cache/blobs/'.length);
        sendBlob(readFileSync(box.path('team-cache', 'blobs', hash.slice(0, 2), hash)), res);
      } else {
        req.resume();
        res.writeHead(404);
        res.end();
      }
    });
    const args = ['run', '--remote', `${server.url('/cache')}?mode=ro`, '--', script.path];
    return { script, b: (env: NodeJS.ProcessEnv = {}, ...options: string[]) => machine(box, 'b').start([...args.slice(0, 1), ...options, ...args.slice(1)], env).done };
  }

  // The headers at once, then one byte a second, for as long as the connection lasts.
  const drip = (bytes: Buffer, res: ServerResponse) => {
    res.writeHead(200);
    res.flushHeaders();
    let at = 0;
    const timer = setInterval(() => res.write(bytes.subarray(at, ++at)), 1000);
    res.on('close', () => clearInterval(timer));
  };

  it('refuses, before any download, an entry that claims more than the largest entry taken (4 GiB by default)', async ({ box }) => {
    const { script, b } = serveEntry(box, 'echo fetched', (m) => (m.stdout!.size = 10 * 2 ** 30), drip);
    const r = await b();
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toMatch(/^dcache: ignored an entry on http:\/\/127\.0\.0\.1:\d+\/cache: its blobs total 10 GiB, over the 4\.0 GiB an entry may have \(DCACHE_MAX_ENTRY_SIZE\)\n$/);
    expect(server.seen.filter((s) => s.url.startsWith('/cache/blobs/'))).toEqual([]);
  });

  it('gives up a blob that drips, within the stall window, whatever size its entry claims', async ({ box }) => {
    const { script, b } = serveEntry(box, 'echo fetched', (m) => (m.stdout!.size = 10 * 2 ** 30), drip);
    const r = await b({ DCACHE_MAX_ENTRY_SIZE: '20G', DCACHE_REMOTE_STALL_WINDOW: '2s' });
    // (a 10 GiB claim held a reader 10,242 s: the deadline grew with the claimed size)
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toMatch(
      /^dcache: the remote cache http:\/\/127\.0\.0\.1:\d+\/cache failed \(.*GET blobs\/[0-9a-f]{64} stalled: [0-3] bytes? in 2 s, where 64 KiB must move in 2 s\); going on without it\n$/,
    );
  });

  it('gives up a small blob that drips too (less than the stall window asks for, but not all of it)', async ({ box }) => {
    const { script, b } = serveEntry(box, 'echo fetched', () => {}, drip);
    const r = await b({ DCACHE_REMOTE_STALL_WINDOW: '1s' });
    expect(r.code).toBe(0);
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toMatch(/GET blobs\/[0-9a-f]{64} stalled: [0-2] bytes? in 1 s, where 8 B must move in 1 s/);
  });

  it('takes a blob that comes slowly but steadily, and says with -v what it downloads', async ({ box }) => {
    // 256 KiB in pieces of 32 KiB every 300 ms: about 107 KiB/s, through
    // stall windows of 1 s (and within a total deadline of 10 s, plus a
    // second per MiB)
    const { script, b } = serveEntry(box, 'head -c 262144 /dev/zero | tr "\\0" x', () => {}, (bytes, res) => {
      res.writeHead(200, { 'content-length': String(bytes.length) });
      let at = 0;
      const timer = setInterval(() => {
        res.write(bytes.subarray(at, (at += 32 << 10)));
        if (at >= bytes.length) {
          clearInterval(timer);
          res.end();
        }
      }, 300);
      res.on('close', () => clearInterval(timer));
    });
    const r = await b({ DCACHE_REMOTE_STALL_WINDOW: '1s' }, '-v', '--remote-timeout', '10s');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(262144);
    expect(script.runs()).toBe(1);
    const lines = dcacheLines(plain(r.stderr));
    expect(lines[0]).toMatch(/^dcache: downloading a blob of 256 KiB from http:\/\/127\.0\.0\.1:\d+\/cache$/);
    expect(lines[1]).toMatch(/^dcache: hit on the remote cache/);
  });
});

describe('a background refresh', () => {
  // `dcache warm` starts one; so does a stale hit with --stale-while-revalidate.
  it('carries no secret of its command line in its argv', async ({ box }) => {
    const secret = 's3cretPassw0rd';
    // the command writes down its parent's command line: the refresh's
    const script = box.counter('probe.sh', `cat /proc/$PPID/cmdline | tr '\\0' ' ' > '${box.path('parent-argv.tmp')}' && mv '${box.path('parent-argv.tmp')}' '${box.path('parent-argv')}'; echo probed`);
    const warm = box.dcache(['warm', '-v', '--remote', `redis://:${secret}@127.0.0.1:1/`, '--', script.path]);
    expect(warm.code).toBe(0);
    const pid = Number(/refreshing in the background \(pid (\d+)\)/.exec(plain(warm.stderr))?.[1]);
    expect(pid).toBeGreaterThan(0);
    await until(() => script.runs() === 1 && existsSync(box.path('parent-argv')));
    const argv = readFileSync(box.path('parent-argv'), 'utf8');
    expect(argv).toMatch(/dcache\.js refresh $/);
    expect(argv).not.toContain(secret);
    // the refresh records, then exits: let it, before the sandbox goes
    box.killAtCleanup(pid);
    await until(() => !running(pid));
  });

  it('is refused when started by hand', ({ box }) => {
    const r = box.dcache(['refresh']);
    expect(r.code).toBe(2);
    expect(plain(r.stderr)).toBe('dcache: dcache refresh is started by dcache itself, for --stale-while-revalidate and warm\n');
  });
});

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(holds: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !holds(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!holds()) throw new Error('timed out waiting');
}

describe('a cache on a read-only file system', () => {
  // A tmpfs mounted for the test (the tests run as root), remounted read-only.
  function readOnlyCache(box: Sandbox): string {
    const mountPoint = box.path('ro');
    mkdirSync(mountPoint);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mounted.status !== 0) throw new Error(`cannot mount a tmpfs (${mounted.stderr}): these tests need root`);
    box.onCleanup(() => spawnSync('umount', ['-l', mountPoint]));
    const cacheDir = join(mountPoint, 'cache');
    // one entry recorded two days ago: stale, and old enough for gc --max-age 1d
    box.dcache(['run', '--', 'echo', 'old'], { env: { DCACHE_DIR: cacheDir, DCACHE_NOW: '2026-11-28T09:00:00' } });
    const remounted = spawnSync('mount', ['-o', 'remount,ro', mountPoint], { encoding: 'utf8' });
    if (remounted.status !== 0) throw new Error(`cannot remount read-only (${remounted.stderr})`);
    return cacheDir;
  }

  it('makes gc, clear and verify say so in one line and exit 2, never "removed 0 entries"', ({ box }) => {
    const cacheDir = readOnlyCache(box);
    const env = { DCACHE_DIR: cacheDir, DCACHE_NOW: '2026-11-30T09:00:00' };
    for (const [command, ...args] of [['gc', '--max-age', '1d'], ['clear', '--all'], ['clear', '--stale'], ['verify']]) {
      const r = box.dcache([command!, ...args], { env });
      expect(r.stderr).not.toMatch(CRASH);
      expect(r.code).toBe(2);
      expect(r.stdout.toString()).toBe('');
      expect(plain(r.stderr)).toBe(`dcache: ${command}: cannot remove anything from the cache directory ${cacheDir} (it is on a read-only file system)\n`);
    }
    expect(manifests(cacheDir)).toHaveLength(1);
  });

  it('still replays and lists what it holds', ({ box }) => {
    const cacheDir = readOnlyCache(box);
    const env = { DCACHE_DIR: cacheDir, DCACHE_NOW: '2026-11-28T10:00:00' };
    const hit = box.dcache(['run', '--', 'echo', 'old'], { env });
    expect(hit.stdout.toString()).toBe('old\n');
    expect(hit.code).toBe(0);
    expect(box.dcache(['ls'], { env }).code).toBe(0);
  });
});

describe('gc', () => {
  // kill -9 between writing a lock's temp file and linking it leaves the temp file
  it('removes the temp files of locks that a killed process left, once they are an hour old', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'hi']);
    const locks = join(box.cacheDir, 'locks');
    const old = join(locks, `0123456789abcdef.lock.${'1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed'}.new`);
    const young = join(locks, `0123456789abcdef.lock.break.${'2c9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed'}.new`);
    writeFileSync(old, '{}');
    writeFileSync(young, '{}');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    const r = box.dcache(['gc']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('freed 2 B: 0 entries, 0 blobs, 1 temp file\n');
    expect(existsSync(old)).toBe(false);
    expect(existsSync(young)).toBe(true);
  });
});

describe('a configuration file', () => {
  it('may start with a byte-order mark', ({ box }) => {
    writeFileSync(box.path('.dcache.json'), `\uFEFF${JSON.stringify({ policy: 'ttl:1h' })}`);
    const r = box.dcache(['config']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^policy +ttl:1h +\S*\.dcache\.json$/m);
  });

  it('that is not JSON is named with the line and column where it stops being JSON', ({ box }) => {
    writeFileSync(box.path('.dcache.json'), '{\n  "policy": "daily",\n  "tz" "UTC"\n}\n');
    const r = box.dcache(['config']);
    expect(r.code).toBe(2);
    expect(plain(r.stderr)).toMatch(new RegExp(`^dcache: ${box.path('.dcache.json')} is not valid JSON: line 3, column 8: .+\\n$`));
  });
});

describe('a redis:// URL that points at something else', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('is one line of dcache\'s own, and the command runs', async ({ box }) => {
    server.handle((_req, res) => {
      res.writeHead(400);
      res.end('<html>not redis</html>');
    });
    const r = await startDcache(box, ['run', '--remote', `redis://127.0.0.1:${server.port}/`, '--', 'echo', 'hi']).done;
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toMatch(
      /^dcache: the remote cache redis:\/\/127\.0\.0\.1:\d+\/ failed \(.*what answers does not speak the Redis protocol; is the URL a Redis server\?\); going on without it\n$/,
    );
  });
});

describe('status', () => {
  it('removes nothing it finds bad: a question is not a clean-up', ({ box }) => {
    writeFileSync(box.path('input.csv'), 'a,b\n');
    box.dcache(['run', '-w', 'input.csv', '--', 'cat', 'input.csv']);
    const [path] = manifests(box.cacheDir);
    // a watched source without its id: a manifest this version cannot use
    const manifest = JSON.parse(readFileSync(path!, 'utf8')) as { validators: Array<Record<string, unknown>> };
    delete manifest.validators[0]!.id;
    writeFileSync(path!, JSON.stringify(manifest));
    const status = box.dcache(['status', '-w', 'input.csv', '--', 'cat', 'input.csv']);
    expect(status.code).toBe(1);
    expect(existsSync(path!)).toBe(true);
    const run = box.dcache(['run', '-w', 'input.csv', '--', 'cat', 'input.csv']);
    expect(plain(run.stderr)).toMatch(/^dcache: dropped a bad cache entry \(garbled manifest \(validators\)\); running the command\n$/);
  });
});
