import { readFileSync, rmSync } from 'node:fs';
import { listFiles, onlyEntry } from '../support/cache-files.js';
import { beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { numberedReport, twoMachines } from '../support/machines.js';
import { plain } from '../support/messages.js';
import { type Backend, type RedisBackend, remoteServers } from '../support/remotes.js';
import { serveMemoryDav } from '../support/servers/memory-dav.js';

// A cache shared across machines, end to end: machine A records into its
// own cache directory and the remote; machine B, with another cache
// directory and the same remote, replays without running the command.

const YESTERDAY = '2030-03-09T10:00:00';
const TODAY = '2030-03-10T10:00:00';

// The two backends start once for the file; every test gets an empty remote.
const servers = remoteServers();
let redis: RedisBackend;
beforeAll(() => void ({ redis } = servers.started()));

// Two machines that share the remote.
const { a, b } = twoMachines();

const report = numberedReport;

// How bytes move differs per backend: these run on each.
describe.each(servers.backends)('a remote on %s', (_name, backendOf) => {
  let backend: Backend;
  beforeEach(async () => {
    backend = backendOf();
    await backend.reset();
  });
  const run = (script: { path: string }, ...options: string[]) => ['run', '--remote', backend.url(), ...options, '--', script.path];

  it('prints the recording run’s output and nothing else on machine A', ({ box }) => {
    const script = report(box);
    const recorded = a.run(run(script));
    expect(recorded.stdout.toString()).toBe('report 1\n');
    expect(recorded.stderr).toBe('');
    expect(recorded.code).toBe(0);
  });

  it('replays on machine B what machine A recorded, without running the command', ({ box }) => {
    const script = report(box);
    a.run(run(script));
    const replayed = b.run(run(script));
    expect(script.runs()).toBe(1);
    expect(replayed.stdout.toString()).toBe('report 1\n');
    expect(replayed.stderr).toBe('');
    expect(replayed.code).toBe(0);
  });

  it('leaves machine A’s manifest and blob on the remote', async ({ box }) => {
    const script = report(box);
    a.run(run(script));
    const entry = onlyEntry(a.cacheDir);
    // with a copy of its small blob inside (see "blobs inside the manifest")
    const inline = { [entry.stdout!.hash]: Buffer.from('report 1\n').toString('base64') };
    expect(JSON.parse((await backend.manifest(entry.key))?.toString() ?? 'null')).toEqual({ ...entry, inline });
    expect((await backend.blob(entry.stdout!.hash))?.toString()).toBe('report 1\n');
  });

  it('restores on machine B the output file machine A declared', ({ box }) => {
    const script = box.counter('export.sh', "printf 'id,amount\\n1,42\\n' > export.csv");
    a.run(run(script, '-o', 'export.csv'));
    rmSync(box.path('export.csv'));
    const replayed = b.run(run(script, '-o', 'export.csv'));
    expect(script.runs()).toBe(1);
    expect(replayed.code).toBe(0);
    expect(readFileSync(box.path('export.csv'), 'utf8')).toBe('id,amount\n1,42\n');
  });

  it('restores on machine B an empty output file', ({ box }) => {
    const script = box.counter('touch.sh', ': > marker');
    a.run(run(script, '-o', 'marker'));
    rmSync(box.path('marker'));
    const replayed = b.run(run(script, '-o', 'marker'));
    expect(script.runs()).toBe(1);
    expect(replayed.code).toBe(0);
    expect(readFileSync(box.path('marker')).length).toBe(0);
  });

  it('replays on machine B binary stdout without a trailing newline byte for byte', ({ box }) => {
    const script = box.counter('binary.sh', "printf '\\377\\000\\376 not utf-8'");
    a.run(run(script));
    const replayed = b.run(run(script));
    expect(script.runs()).toBe(1);
    expect(replayed.stdout).toEqual(Buffer.from([0xff, 0x00, 0xfe, ...Buffer.from(' not utf-8')]));
  });

  it('replays on machine B the stderr and exit code of a failure recorded with --cache-failures', ({ box }) => {
    const script = box.counter('fail.sh', 'echo half-done; echo broken >&2; exit 3');
    a.run(run(script, '--cache-failures'));
    const replayed = b.run(run(script, '--cache-failures'));
    expect(script.runs()).toBe(1);
    expect(replayed.stdout.toString()).toBe('half-done\n');
    expect(replayed.stderr).toBe('broken\n');
    expect(replayed.code).toBe(3);
  });

  it('replays on machine B a 9 MiB output byte for byte', ({ box }) => {
    const script = box.counter('big.sh', 'head -c 9437184 /dev/urandom');
    const recorded = a.run(run(script));
    const replayed = b.run(run(script));
    expect(script.runs()).toBe(1);
    expect(replayed.stdout.length).toBe(9437184);
    expect(replayed.stdout.equals(recorded.stdout)).toBe(true);
  });

  it('stores nothing on the remote with --remote-read-only', async ({ box }) => {
    const script = report(box);
    a.run(run(script, '--remote-read-only'));
    expect(await backend.count()).toBe(0);
  });

  it('stores nothing on the remote with ?mode=ro', async ({ box }) => {
    const script = report(box);
    a.run(['run', '--remote', `${backend.url()}?mode=ro`, '--', script.path]);
    expect(await backend.count()).toBe(0);
  });

  it('replays on a read-only machine what a writable one recorded', ({ box }) => {
    const script = report(box);
    a.run(run(script));
    const replayed = b.run(['run', '--remote', `${backend.url()}?mode=ro`, '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(replayed.stdout.toString()).toBe('report 1\n');
    expect(replayed.stderr).toBe('');
  });
});

// What happens around the transfer is the same on every backend: these run
// on Redis.
describe('around a remote hit', () => {
  beforeEach(async () => {
    await redis.reset();
  });
  const run = (script: { path: string }, ...options: string[]) => ['run', '--remote', redis.url(), ...options, '--', script.path];

  it('keeps the pulled entry on machine B, which then replays it without the remote', ({ box }) => {
    const script = report(box);
    a.run(run(script));
    b.run(run(script));
    const local = b.run(['run', '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(local.stdout.toString()).toBe('report 1\n');
    expect(local.stderr).toBe('');
  });

  it('leaves no temp files in machine B’s cache after a pull', ({ box }) => {
    const script = box.counter('export.sh', "echo exported; printf 'id\\n' > export.csv");
    a.run(run(script, '-o', 'export.csv'));
    b.run(run(script, '-o', 'export.csv'));
    expect(listFiles(`${b.cacheDir}/tmp`)).toEqual([]);
  });

  it('replays a fresh remote entry on a machine whose own entry went stale', ({ box }) => {
    const script = report(box);
    b.run(['run', '--', script.path], { DCACHE_NOW: YESTERDAY });
    a.run(run(script), { DCACHE_NOW: TODAY });
    const replayed = b.run(run(script), { DCACHE_NOW: TODAY });
    expect(script.runs()).toBe(2);
    expect(replayed.stdout.toString()).toBe('report 2\n');
  });

  it('runs the command on machine B when the remote entry is stale by B’s policy', ({ box }) => {
    const script = report(box);
    a.run(run(script), { DCACHE_NOW: YESTERDAY });
    const ran = b.run(run(script), { DCACHE_NOW: TODAY });
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report 2\n');
  });

  it('takes the remote from DCACHE_REMOTE', ({ box }) => {
    const script = report(box);
    const env = { DCACHE_REMOTE: redis.url() };
    a.run(['run', '--', script.path], env);
    const replayed = b.run(['run', '--', script.path], env);
    expect(script.runs()).toBe(1);
    expect(replayed.stdout.toString()).toBe('report 1\n');
  });

  it('says in verbose mode on machine B that the hit came from the remote', ({ box }) => {
    const script = report(box);
    a.run(run(script));
    const replayed = b.run(run(script, '-v'));
    expect(plain(replayed.stderr)).toMatch(/^dcache: hit on the remote cache redis:\/\/127\.0\.0\.1:\d+: recorded \S+ ago .*\n$/);
  });

  it('still records locally with --remote-read-only', ({ box }) => {
    const script = report(box);
    a.run(run(script, '--remote-read-only'));
    const local = a.run(['run', '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(local.stdout.toString()).toBe('report 1\n');
  });

  it('prints nothing of its own on a read-only recording run', ({ box }) => {
    const script = report(box);
    const ran = a.run(run(script, '--remote-read-only'));
    expect(ran.stdout.toString()).toBe('report 1\n');
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
  });

  it('stores a 9 MiB blob on Redis as three chunks, each with an expiry', async ({ box }) => {
    const script = box.counter('big.sh', 'head -c 9437184 /dev/urandom');
    a.run(run(script));
    const entry = onlyEntry(a.cacheDir);
    const chunks = await redis.client.keys(`dcache:v2:{${entry.stdout!.hash}}:blob:*`);
    expect(chunks).toHaveLength(3);
    const ttls = await Promise.all(chunks.map((k) => redis.client.pttl(k)));
    expect(ttls.every((ttl) => ttl > 0)).toBe(true);
  });

  it('gives the manifest on Redis an expiry', async ({ box }) => {
    a.run(run(report(box)));
    const entry = onlyEntry(a.cacheDir);
    expect(await redis.client.pttl(`dcache:v2:{${entry.key}}:entry`)).toBeGreaterThan(0);
  });

  it('stores the entry in the Redis database the URL names', async ({ box }) => {
    a.run(['run', '--remote', `${redis.url()}/3`, '--', report(box).path]);
    const inThree = await redis.client.select(3).then(() => redis.client.dbsize());
    const inZero = await redis.client.select(0).then(() => redis.client.dbsize());
    expect({ inThree: inThree > 0, inZero }).toEqual({ inThree: true, inZero: 0 });
  });

  describe('status', () => {
    it('says on machine B that it would replay the entry on the remote', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      const said = b.run(['status', '--remote', redis.url(), '--', script.path]);
      expect(plain(said.stdout.toString())).toMatch(/^fresh: would replay the entry on the remote cache redis:\/\/127\.0\.0\.1:\d+ /);
      expect(said.stderr).toBe('');
      expect(said.code).toBe(0);
    });

    it('copies nothing into machine B’s cache', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      b.run(['status', '--remote', redis.url(), '--', script.path]);
      expect(listFiles(`${b.cacheDir}/entries`)).toEqual([]);
    });
  });

  describe('ls and stats', () => {
    it('count a remote hit in machine B’s stats', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      b.run(run(script));
      const stats = JSON.parse(b.run(['stats', '--json']).stdout.toString());
      expect({ hits: stats.hits, remoteHits: stats.remoteHits }).toEqual({ hits: 1, remoteHits: 1 });
    });

    it('count a local hit after a remote one as local', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      b.run(run(script));
      b.run(run(script));
      const stats = JSON.parse(b.run(['stats', '--json']).stdout.toString());
      expect({ hits: stats.hits, remoteHits: stats.remoteHits }).toEqual({ hits: 2, remoteHits: 1 });
    });

    it('count no remote hit on the machine that recorded', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      a.run(run(script));
      const stats = JSON.parse(a.run(['stats', '--json']).stdout.toString());
      expect({ hits: stats.hits, remoteHits: stats.remoteHits }).toEqual({ hits: 1, remoteHits: 0 });
    });

    it('show remote hits apart in the human stats', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      b.run(run(script));
      b.run(run(script));
      const stats = plain(b.run(['stats']).stdout.toString());
      expect(stats).toMatch(/^hits +2 \(1 from the remote cache\), misses 0/m);
    });

    it('show remote hits apart in ls --remote', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      b.run(run(script));
      b.run(run(script));
      const listed = plain(b.run(['ls', '--remote']).stdout.toString()).split('\n');
      expect(listed[1]).toMatch(/ 2 \(1 remote\) /);
    });

    it('count remote hits in ls --json', ({ box }) => {
      const script = report(box);
      a.run(run(script));
      b.run(run(script));
      const listed = JSON.parse(b.run(['ls', '--json']).stdout.toString());
      expect(listed.entries.map((e: { hits: number; remoteHits: number }) => [e.hits, e.remoteHits])).toEqual([[1, 1]]);
    });
  });
});

// A small entry's blobs travel inside its manifest too, so that a hit is
// one request; they are checked like any download, and still uploaded as
// blobs for versions that do not read them there.
describe('blobs inside the manifest (an HTTP remote that counts requests)', () => {
  const web = serveMemoryDav();
  const url = () => web.server.url('/cache');
  const gets = () => web.server.seen.filter((r) => r.method === 'GET').map((r) => r.url);
  const manifestPath = () => [...web.dav.files.keys()].find((p) => p.includes('/entries/'))!;

  it('makes a small remote hit one request, the blobs uploaded all the same', async ({ box }) => {
    const job = box.counter('job.sh', "echo out; echo err >&2; printf 'id\\n' > export.csv");
    const args = ['--remote', url(), '-o', 'export.csv', '--', job.path];
    await a.start(['run', ...args]).done;
    expect([...web.dav.files.keys()].filter((p) => p.includes('/blobs/'))).toHaveLength(4);
    rmSync(box.path('export.csv'));
    web.server.reset();
    const hit = await b.start(['run', '-v', ...args]).done;
    expect(job.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('out\n');
    expect(plain(hit.stderr)).toMatch(/^dcache: hit on the remote cache /m);
    expect(readFileSync(box.path('export.csv'), 'utf8')).toBe('id\n');
    expect(gets()).toEqual([expect.stringMatching(/^\/cache\/entries\/[0-9a-f]{16}\.json$/)]);
    // and b's local copy replays on its own, without the inline copies
    web.server.reset();
    const local = await b.start(['run', '-v', ...args]).done;
    expect(local.stdout.toString()).toBe('out\n');
    expect(gets()).toEqual([]);
    expect(onlyEntry(b.cacheDir)).not.toHaveProperty('inline');
  });

  it('downloads a blob whose copy in the manifest does not match its hash', async ({ box }) => {
    const job = box.counter('job.sh', 'echo genuine');
    const args = ['--remote', url(), '--', job.path];
    await a.start(['run', ...args]).done;
    const path = manifestPath();
    const manifest = JSON.parse(web.dav.files.get(path)!.toString()) as { inline: Record<string, string> };
    const [hash] = Object.keys(manifest.inline);
    // as long as the real one, so that only its hash gives it away
    manifest.inline[hash!] = Buffer.from('GENUINE\n').toString('base64');
    web.dav.files.set(path, Buffer.from(JSON.stringify(manifest)));
    web.server.reset();
    const hit = await b.start(['run', '-v', ...args]).done;
    expect(hit.stdout.toString()).toBe('genuine\n');
    expect(job.runs()).toBe(1);
    expect(gets().filter((u) => u.includes('/blobs/'))).toEqual([`/cache/blobs/${hash}`]);
  });

  it('leaves blobs over 16 KiB in all to be downloaded', async ({ box }) => {
    const job = box.counter('job.sh', 'head -c 20000 /dev/zero | tr "\\0" x');
    const args = ['--remote', url(), '--', job.path];
    await a.start(['run', ...args]).done;
    expect(JSON.parse(web.dav.files.get(manifestPath())!.toString())).not.toHaveProperty('inline');
    web.server.reset();
    const hit = await b.start(['run', ...args]).done;
    expect(hit.stdout.toString()).toBe('x'.repeat(20000));
    expect(gets().filter((u) => u.includes('/blobs/'))).toHaveLength(1);
  });
});
