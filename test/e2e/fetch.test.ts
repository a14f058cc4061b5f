import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from '../support/fixture.js';
import { CRASH, plain } from '../support/messages.js';
import { startDcache, startShell } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { Azurite } from '../support/servers/azurite.js';
import { CountingProxy } from '../support/servers/counting-proxy.js';
import { GcsStandIn } from '../support/servers/gcs-standin.js';
import { MotoServer } from '../support/servers/moto.js';

// dcache fetch against real servers: moto_server (S3), Azurite (Azure) and
// the GCS stand-in, each behind a proxy that writes down every request, so
// that downloads are counted on the server's side.

interface Cloud {
  scheme: 's3' | 'gs' | 'az';
  env(): Record<string, string>;
  bucket(): Promise<string>;
  put(bucket: string, key: string, body: string): Promise<void>;
  remove(bucket: string, key: string): Promise<void>;
  // whether a request the proxy saw is the download of an object
  isDownload(what: string): boolean;
  refused(box: Sandbox): { env: Record<string, string | undefined>; code: string; secret: string | null };
  notFound: string;
  noBucket: string;
  // turns moto's signature checks off around listings (see MotoServer.checkSignatures)
  listings?(on: boolean): Promise<void>;
}

let moto: MotoServer;
let azurite: Azurite;
let gcs: GcsStandIn;
const proxies: Record<Cloud['scheme'], CountingProxy> = {} as Record<Cloud['scheme'], CountingProxy>;
beforeAll(async () => {
  [moto, azurite, gcs] = await Promise.all([MotoServer.start(), Azurite.start(), GcsStandIn.start()]);
  proxies.s3 = await CountingProxy.start(new URL(moto.url));
  proxies.az = await CountingProxy.start(new URL(`http://127.0.0.1:${azurite.port}`));
  proxies.gs = await CountingProxy.start(new URL(`http://${gcs.host.replace(/^https?:\/\//, '')}`));
});
afterAll(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.stop()));
  await Promise.all([moto?.stop(), azurite?.stop(), gcs?.stop()]);
});

let gcsBuckets = 0;
const clouds: Array<[string, () => Cloud]> = [
  [
    'S3 (moto_server)',
    () => ({
      scheme: 's3',
      env: () => ({ ...moto.env(), AWS_ENDPOINT_URL_S3: proxies.s3.url }),
      bucket: () => moto.bucket(),
      put: (b, k, body) => moto.put(b, k, body),
      remove: (b, k) => moto.remove(b, k),
      isDownload: (what) => /^GET \/[^/?]+\/[^?]+/.test(what),
      refused: () => ({ env: { AWS_SECRET_ACCESS_KEY: 'wrong-secret-5b1d' }, code: 'SignatureDoesNotMatch', secret: 'wrong-secret-5b1d' }),
      notFound: 'NoSuchKey',
      noBucket: 'NoSuchBucket',
      listings: (on) => moto.checkSignatures(!on),
    }),
  ],
  [
    'Azure Blob Storage (Azurite)',
    () => ({
      scheme: 'az',
      env: () => ({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString().replace(`:${azurite.port}/`, `:${proxies.az.port}/`) }),
      bucket: () => azurite.container(),
      put: (b, k, body) => azurite.put(b, k, body),
      remove: (b, k) => azurite.remove(b, k),
      isDownload: (what) => /^GET \/[^/?]+\/[^/?]+\/[^?]+/.test(what),
      refused: () => {
        const key = Buffer.from('wrong-key-8c3e-wrong-key-8c3e').toString('base64');
        return {
          env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString(key).replace(`:${azurite.port}/`, `:${proxies.az.port}/`) },
          code: 'AuthorizationFailure',
          secret: key,
        };
      },
      notFound: 'BlobNotFound',
      noBucket: 'ContainerNotFound',
    }),
  ],
  [
    'GCS (a stand-in for its JSON API)',
    () => ({
      scheme: 'gs',
      env: () => ({ STORAGE_EMULATOR_HOST: proxies.gs.url }),
      bucket: async () => {
        const name = `bucket-${++gcsBuckets}`;
        gcs.buckets.set(name, new Map());
        return name;
      },
      put: async (b, k, body) => void gcs.put(b, k, body),
      remove: async (b, k) => gcs.remove(b, k),
      isDownload: (what) => /[?&]alt=media/.test(what),
      refused: (box) => ({
        env: { STORAGE_EMULATOR_HOST: undefined, GOOGLE_APPLICATION_CREDENTIALS: box.path('no-such-key.json') },
        code: 'no Google credentials',
        secret: null,
      }),
      notFound: 'notFound',
      noBucket: 'notFound',
    }),
  ],
];

const dcacheLines = (stderr: string) => plain(stderr).split('\n').filter((l) => l.startsWith('dcache:'));

// every file below `dir`, relative, sorted, with its text
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string, rel: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(join(at, entry.name), path);
      else files[path] = readFileSync(join(at, entry.name), 'utf8');
    }
  };
  walk(dir, '');
  return files;
}

describe.each(clouds)('dcache fetch from %s', (_name, cloudOf) => {
  let cloud: Cloud;
  let bucket: string;
  let proxy: CountingProxy;
  const url = (key: string) => `${cloud.scheme}://${bucket}/${key}`;
  const dcache = async (box: Sandbox, args: string[], env: Record<string, string | undefined> = {}) =>
    startDcache(box, args, { env: { ...cloud.env(), ...env } }).done;
  // the object downloads the server saw since the last call
  const downloads = () => proxy.take((what) => cloud.isDownload(what)).length;
  beforeEach(async () => {
    cloud = cloudOf();
    bucket = await cloud.bucket();
    proxy = proxies[cloud.scheme];
    proxy.take(() => true);
    await cloud.listings?.(true);
    onTestFinished(() => cloud.listings?.(false));
  });

  it('mirrors a prefix into the directory -o names, and a second fetch of it unchanged downloads nothing', async ({ box }) => {
    await cloud.put(bucket, 'acme/daily/2026-12-07.csv', 'a\n');
    await cloud.put(bucket, 'acme/daily/sub/2026-12-08.csv', 'b\n');
    await cloud.put(bucket, 'acme/other.csv', 'not under the prefix\n');
    downloads();
    const first = await dcache(box, ['fetch', url('acme/daily/'), '-o', 'data']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(tree(box.path('data'))).toEqual({ '2026-12-07.csv': 'a\n', 'sub/2026-12-08.csv': 'b\n' });
    expect(downloads()).toBe(2);

    const again = await dcache(box, ['fetch', '-v', url('acme/daily/'), '-o', 'data']);
    expect(again.code).toBe(0);
    expect(dcacheLines(again.stderr)).toEqual([`dcache: ${url('acme/daily/')}: unchanged (2 objects)`]);
    expect(downloads()).toBe(0);
    expect(tree(box.path('data'))).toEqual({ '2026-12-07.csv': 'a\n', 'sub/2026-12-08.csv': 'b\n' });
  });

  it('downloads only the objects that changed or were added, and -v names them', async ({ box }) => {
    for (let i = 0; i < 30; i++) await cloud.put(bucket, `daily/${String(i).padStart(2, '0')}.csv`, `row ${i}\n`);
    expect((await dcache(box, ['fetch', url('daily/'), '-o', 'data'])).code).toBe(0);
    expect(downloads()).toBe(30);
    await cloud.put(bucket, 'daily/07.csv', 'row 7, corrected\n');
    await cloud.put(bucket, 'daily/30.csv', 'row 30\n');
    const ran = await dcache(box, ['fetch', '-v', url('daily/'), '-o', 'data']);
    expect(ran.code).toBe(0);
    expect(downloads()).toBe(2);
    expect(dcacheLines(ran.stderr)[0]).toMatch(
      new RegExp(`^dcache: ${url('daily/')}: added daily/30.csv; changed daily/07.csv; downloaded 2 objects, 24 B, 2 checked by MD5, 0 by size$`),
    );
    const files = tree(box.path('data'));
    expect(Object.keys(files)).toHaveLength(31);
    expect(files['07.csv']).toBe('row 7, corrected\n');
    expect(files['30.csv']).toBe('row 30\n');
  });

  it('removes the file of an object removed from the bucket, never a file of the user’s own, and keeps it with --no-delete', async ({ box }) => {
    await cloud.put(bucket, 'd/a.csv', 'a\n');
    await cloud.put(bucket, 'd/b.csv', 'b\n');
    await cloud.put(bucket, 'd/c/deep.csv', 'c\n');
    await dcache(box, ['fetch', url('d/'), '-o', 'data']);
    writeFileSync(box.path('data/mine.txt'), 'my notes\n');
    await cloud.remove(bucket, 'd/b.csv');
    await cloud.remove(bucket, 'd/c/deep.csv');
    const ran = await dcache(box, ['fetch', '-v', url('d/'), '-o', 'data']);
    expect(ran.code).toBe(0);
    expect(dcacheLines(ran.stderr)[0]).toBe(`dcache: ${url('d/')}: removed d/b.csv, d/c/deep.csv`);
    expect(tree(box.path('data'))).toEqual({ 'a.csv': 'a\n', 'mine.txt': 'my notes\n' });

    await cloud.remove(bucket, 'd/a.csv');
    expect((await dcache(box, ['fetch', '--no-delete', url('d/'), '-o', 'data'])).code).toBe(0);
    expect(tree(box.path('data'))).toEqual({ 'a.csv': 'a\n', 'mine.txt': 'my notes\n' });
  });

  it('restores a working copy that was deleted or edited from the cache, without downloading it', async ({ box }) => {
    await cloud.put(bucket, 'd/a.csv', 'a\n');
    await cloud.put(bucket, 'd/b.csv', 'b\n');
    await dcache(box, ['fetch', url('d/'), '-o', 'data']);
    downloads();
    writeFileSync(box.path('data/a.csv'), 'edited by hand\n');
    writeFileSync(box.path('data/b.csv'), '');
    const ran = await dcache(box, ['fetch', url('d/'), '-o', 'data']);
    expect(ran.code).toBe(0);
    expect(downloads()).toBe(0);
    expect(tree(box.path('data'))).toEqual({ 'a.csv': 'a\n', 'b.csv': 'b\n' });
    expect(dcacheLines(ran.stderr)).toEqual(['dcache: restored data/a.csv, edited since dcache wrote it', 'dcache: restored data/b.csv, edited since dcache wrote it']);
  });

  it('writes one object to stdout, or to the file -o names, and downloads it again only once it changes', async ({ box }) => {
    await cloud.put(bucket, 'acme/customers.csv', 'id,name\n');
    const out = await dcache(box, ['fetch', url('acme/customers.csv')]);
    expect(out.code).toBe(0);
    expect(out.stdout.toString()).toBe('id,name\n');
    expect(out.stderr).toBe('');
    downloads();
    expect((await dcache(box, ['fetch', url('acme/customers.csv')])).stdout.toString()).toBe('id,name\n');
    expect(downloads()).toBe(0);

    mkdirSync(box.path('data'));
    expect((await dcache(box, ['fetch', url('acme/customers.csv'), '-o', 'data/customers.csv'])).code).toBe(0);
    expect(readFileSync(box.path('data/customers.csv'), 'utf8')).toBe('id,name\n');
    await cloud.put(bucket, 'acme/customers.csv', 'id,name\n1,acme\n');
    downloads();
    expect((await dcache(box, ['fetch', url('acme/customers.csv'), '-o', 'data/'])).code).toBe(0);
    expect(readFileSync(box.path('data/customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
    expect(downloads()).toBe(1);
  });

  it('fetches the keys a glob matches', async ({ box }) => {
    await cloud.put(bucket, 'x/2026-01/a.csv', 'a\n');
    await cloud.put(bucket, 'x/2026-01/notes.txt', 'no\n');
    await cloud.put(bucket, 'x/2025-12/b.csv', 'no\n');
    await cloud.put(bucket, 'x/2026-02/c.csv', 'c\n');
    const ran = await dcache(box, ['fetch', url('x/2026-*/*.csv'), '-o', 'data']);
    expect(ran.code).toBe(0);
    expect(tree(box.path('data'))).toEqual({ '2026-01/a.csv': 'a\n', '2026-02/c.csv': 'c\n' });
  });

  it('leaves the directory as the last whole fetch left it when a download breaks off, names the object, exits 1, and downloads only that one again', async ({ box }) => {
    await cloud.put(bucket, 'd/a.csv', 'a\n');
    await cloud.put(bucket, 'd/b.csv', 'b\n');
    await dcache(box, ['fetch', url('d/'), '-o', 'data']);
    await cloud.put(bucket, 'd/a.csv', 'a, newer\n'.repeat(1000));
    await cloud.put(bucket, 'd/b.csv', 'b, newer\n');
    await cloud.put(bucket, 'd/c.csv', 'c\n');
    proxy.breakDownloads = (what) => cloud.isDownload(what) && what.includes('a.csv');
    onTestFinished(() => void (proxy.breakDownloads = () => false));
    const ran = await dcache(box, ['fetch', url('d/'), '-o', 'data']);
    expect(ran.code).toBe(1);
    expect(ran.stderr).not.toMatch(CRASH);
    const lines = dcacheLines(ran.stderr);
    expect(lines[0]).toMatch(new RegExp(`^dcache: could not fetch ${url('d/a.csv')}: `));
    expect(lines.at(-1)).toBe('dcache: 1 of 3 objects could not be fetched; data is as the last whole fetch left it');
    expect(tree(box.path('data'))).toEqual({ 'a.csv': 'a\n', 'b.csv': 'b\n' });

    // the objects that did download are not downloaded again
    proxy.breakDownloads = () => false;
    downloads();
    expect((await dcache(box, ['fetch', url('d/'), '-o', 'data'])).code).toBe(0);
    expect(downloads()).toBe(1);
    expect(tree(box.path('data'))).toEqual({ 'a.csv': 'a, newer\n'.repeat(1000), 'b.csv': 'b, newer\n', 'c.csv': 'c\n' });
  });

  it('refuses bytes that do not have the MD5 the store gives for them, and puts nothing in place', async ({ box }) => {
    await cloud.put(bucket, 'd/a.csv', 'a\n');
    proxy.corruptDownloads = (what) => cloud.isDownload(what);
    onTestFinished(() => void (proxy.corruptDownloads = () => false));
    const ran = await dcache(box, ['fetch', url('d/'), '-o', 'data']);
    expect(ran.code).toBe(1);
    expect(dcacheLines(ran.stderr)).toEqual([
      `dcache: could not fetch ${url('d/a.csv')}: the bytes that came do not have the MD5 the store gives for them`,
      'dcache: 1 of 1 object could not be fetched; data is as the last whole fetch left it',
    ]);
    expect(existsSync(box.path('data/a.csv'))).toBe(false);
  });

  it('gives up a download that is not answered, or that stalls, within --timeout, in one line, exit 1', async ({ box }) => {
    await cloud.put(bucket, 'd/a.csv', 'a\n'.repeat(100_000));
    for (const [how, said] of [
      ['hang', /: no answer within 1 s \(Timeout\)$/],
      ['stall', /: stalled \(1 byte in 1 s\)$/],
    ] as const) {
      if (how === 'hang') proxy.hangDownloads = (what) => cloud.isDownload(what);
      else proxy.stallDownloads = (what) => cloud.isDownload(what);
      onTestFinished(() => {
        proxy.hangDownloads = () => false;
        proxy.stallDownloads = () => false;
      });
      const ran = await dcache(box, ['fetch', '--timeout', '1s', url('d/'), '-o', 'data']);
      expect(ran.code).toBe(1);
      const lines = dcacheLines(ran.stderr);
      expect(lines[0]).toMatch(new RegExp(`^dcache: could not fetch ${url('d/a.csv')}`));
      expect(lines[0]).toMatch(said);
      expect(existsSync(box.path('data'))).toBe(false);
      proxy.hangDownloads = () => false;
      proxy.stallDownloads = () => false;
    }
  });

  it('says in one line that an object or a bucket is missing, naming the cloud’s code, and exits 1', async ({ box }) => {
    const missing = await dcache(box, ['fetch', url('acme/missing.csv'), '-o', 'x.csv']);
    expect(missing.code).toBe(1);
    expect(dcacheLines(missing.stderr)).toEqual([`dcache: ${url('acme/missing.csv')}: no such object (${cloud.notFound})`]);
    expect(existsSync(box.path('x.csv'))).toBe(false);

    const noBucket = await dcache(box, ['fetch', `${cloud.scheme}://no-such-bucket-7f3a/d/`, '-o', 'data']);
    expect(noBucket.code).toBe(1);
    expect(dcacheLines(noBucket.stderr)).toHaveLength(1);
    expect(noBucket.stderr).toContain(cloud.noBucket);
    expect(noBucket.stderr).not.toMatch(CRASH);
  });

  it('says in one line that the credentials were refused, with the cloud’s code and no secret', async ({ box }) => {
    await cloud.listings?.(false);
    await cloud.put(bucket, 'd/a.csv', 'a\n');
    const { env, code, secret } = cloud.refused(box);
    for (const source of [url('d/a.csv'), url('d/')]) {
      const ran = await dcache(box, ['fetch', source, '-o', 'data'], env);
      expect(ran.code).toBe(1);
      const lines = dcacheLines(ran.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(code);
      if (secret !== null) expect(ran.stderr).not.toContain(secret);
      expect(ran.stderr).not.toMatch(CRASH);
    }
  });
});

describe('dcache fetch, whatever the cloud', () => {
  let bucket: string;
  let proxy: CountingProxy;
  const env = () => ({ STORAGE_EMULATOR_HOST: proxy.url });
  const downloads = () => proxy.take((what) => /[?&]alt=media/.test(what)).length;
  beforeEach(() => {
    proxy = proxies.gs;
    proxy.take(() => true);
    bucket = `bucket-whatever-${++gcsBuckets}`;
    gcs.buckets.set(bucket, new Map());
  });

  it('with a policy, checks nothing until the period ends, then lists again', async ({ box }) => {
    gcs.put(bucket, 'd/a.csv', 'a\n');
    const args = ['fetch', '-p', 'daily', `gs://${bucket}/d/`, '-o', 'data'];
    const at = (now: string) => ({ ...env(), DCACHE_NOW: now });
    expect((await startDcache(box, args, { env: at('2026-12-07T09:00:00') }).done).code).toBe(0);
    proxy.take(() => true);
    gcs.put(bucket, 'd/a.csv', 'a, newer\n');
    const later = await startDcache(box, ['fetch', '-v', ...args.slice(1)], { env: at('2026-12-07T18:00:00') }).done;
    expect(later.code).toBe(0);
    expect(proxy.take(() => true)).toEqual([]);
    expect(dcacheLines(later.stderr)[0]).toMatch(/fresh under daily.*: not checked$/);
    expect(readFileSync(box.path('data/a.csv'), 'utf8')).toBe('a\n');

    expect((await startDcache(box, args, { env: at('2026-12-08T09:00:00') }).done).code).toBe(0);
    expect(readFileSync(box.path('data/a.csv'), 'utf8')).toBe('a, newer\n');
  });

  it('downloads exactly the changed and the added object among 1,000', async ({ box }) => {
    for (let i = 0; i < 1000; i++) gcs.put(bucket, `big/${String(i).padStart(4, '0')}.csv`, `${i}\n`);
    const args = ['fetch', `gs://${bucket}/big/`, '-o', 'data'];
    expect((await startDcache(box, args, { env: env() }).done).code).toBe(0);
    expect(downloads()).toBe(1000);
    expect((await startDcache(box, args, { env: env() }).done).code).toBe(0);
    expect(downloads()).toBe(0);
    gcs.put(bucket, 'big/0500.csv', 'changed\n');
    gcs.put(bucket, 'big/1000.csv', 'added\n');
    expect((await startDcache(box, args, { env: env() }).done).code).toBe(0);
    expect(downloads()).toBe(2);
    expect(readdirSync(box.path('data'))).toHaveLength(1001);
  });

  it('downloads each object once when eight fetches of one prefix run at once', async ({ box }) => {
    for (let i = 0; i < 200; i++) gcs.put(bucket, `p/${i}.csv`, `${i}\n`);
    const args = ['fetch', `gs://${bucket}/p/`, '-o', 'data'];
    const runs = await Promise.all(Array.from({ length: 8 }, () => startDcache(box, args, { env: env() }).done));
    expect(runs.map((r) => r.code), runs[0]!.stderr).toEqual(Array(8).fill(0));
    expect(downloads()).toBe(200);
    expect(readdirSync(box.path('data'))).toHaveLength(200);
  });

  it('downloads each object once for fetches of one source into two directories, at once or one after the other', async ({ box }) => {
    for (let i = 0; i < 40; i++) gcs.put(bucket, `two/${i}.csv`, `${i}\n`);
    const into = (dir: string, extra: string[] = []) => startDcache(box, ['fetch', ...extra, `gs://${bucket}/two/`, '-o', dir], { env: env() }).done;
    const runs = await Promise.all([into('a'), into('b')]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    expect(downloads()).toBe(40);
    expect(tree(box.path('b'))).toEqual(tree(box.path('a')));
    gcs.put(bucket, 'two/3.csv', 'three\n');
    expect((await into('a')).code).toBe(0);
    const later = await into('c', ['-v']);
    expect(later.code).toBe(0);
    expect(downloads()).toBe(1);
    expect(dcacheLines(later.stderr)[0]).toMatch(/; 40 objects already in the cache \(another fetch of it\)$/);
    expect(tree(box.path('c'))['3.csv']).toBe('three\n');
  });

  it('refuses a prefix without -o, an http URL and a bad policy, in one line each, with exit 2', async ({ box }) => {
    const noOutput = await startDcache(box, ['fetch', `gs://${bucket}/d/`], { env: env() }).done;
    expect(noOutput.code).toBe(2);
    expect(dcacheLines(noOutput.stderr)).toEqual([`dcache: gs://${bucket}/d/ is a prefix: give the directory to mirror it into with -o <dir>`]);
    const http = await startDcache(box, ['fetch', 'https://example.com/x.csv'], { env: env() }).done;
    expect(http.code).toBe(2);
    expect(dcacheLines(http.stderr)).toHaveLength(1);
    const badPolicy = await startDcache(box, ['fetch', '-p', 'dialy', `gs://${bucket}/d/`, '-o', 'data'], { env: env() }).done;
    expect(badPolicy.code).toBe(2);
    expect(dcacheLines(badPolicy.stderr)).toHaveLength(1);
    expect(badPolicy.stderr).toContain("'dialy'");
    expect(badPolicy.stderr).not.toMatch(CRASH);
  });

  it('fails in one line when a listing is cut short, and removes nothing it did not see', async ({ box }) => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) gcs.put(bucket, `l/${name}.csv`, `${name}\n`);
    const args = ['fetch', `gs://${bucket}/l/`, '-o', 'data'];
    expect((await startDcache(box, args, { env: env() }).done).code).toBe(0);
    gcs.pageSize = 2;
    let listings = 0;
    gcs.refuse = (what) => (/^GET \/storage\/v1\/b\/[^/]+\/o$/.test(what) && ++listings === 2 ? 503 : null);
    onTestFinished(() => {
      gcs.pageSize = 1000;
      gcs.refuse = () => null;
    });
    const cut = await startDcache(box, args, { env: env() }).done;
    expect(cut.code).toBe(1);
    expect(dcacheLines(cut.stderr)).toEqual([`dcache: gs://${bucket}/l/: backendError (refused by the test)`]);
    expect(Object.keys(tree(box.path('data')))).toEqual(['a.csv', 'b.csv', 'c.csv', 'd.csv', 'e.csv']);
  });

  it('shows a progress line on a terminal while the downloads last over a second, and clears it', async ({ box }) => {
    gcs.put(bucket, 'slow/a.bin', Buffer.alloc(2 << 20, 1));
    proxy.bytesPerSecond = 1 << 20;
    onTestFinished(() => void (proxy.bytesPerSecond = null));
    const line = `STORAGE_EMULATOR_HOST=${proxy.url} \\$DCACHE fetch gs://${bucket}/slow/ -o data`;
    const ran = await startShell(box, `script -qec "stty cols 100; ${line}" /dev/null`).done;
    expect(ran.code).toBe(0);
    const text = ran.stdout.toString();
    const drawn = text.split('\r').filter((part) => part.includes('downloading'));
    expect(drawn.length).toBeGreaterThan(1);
    for (const part of drawn) expect(part).toMatch(new RegExp(`^\u001b\\[Kdcache: downloading [\\d.]+ (B|KiB|MiB) of 2\\.0 MiB \\(\\d+%\\), .*/s, gs://${bucket}/slow/$`));
    expect(text.endsWith('\r\u001b[K')).toBe(true);
    expect(readFileSync(box.path('data/a.bin'))).toEqual(Buffer.alloc(2 << 20, 1));

    // piped, stderr gets nothing of it
    gcs.put(bucket, 'slow/a.bin', Buffer.alloc(2 << 20, 2));
    const piped = await startDcache(box, ['fetch', `gs://${bucket}/slow/`, '-o', 'data'], { env: { STORAGE_EMULATOR_HOST: proxy.url } }).done;
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
  });

  it('skips a key that cannot be a file below -o, saying why, and writes nothing outside it', async ({ box }) => {
    gcs.put(bucket, 'k/ok.csv', 'ok\n');
    gcs.put(bucket, 'k/../escape.csv', 'no\n');
    gcs.put(bucket, 'k//empty.csv', 'no\n');
    gcs.put(bucket, 'k/a', 'file\n');
    gcs.put(bucket, 'k/a/b', 'under\n');
    const ran = await startDcache(box, ['fetch', `gs://${bucket}/k/`, '-o', 'data'], { env: env() }).done;
    expect(ran.code).toBe(0);
    expect(tree(box.path('data'))).toEqual({ 'ok.csv': 'ok\n', 'a/b': 'under\n' });
    expect(existsSync(box.path('escape.csv'))).toBe(false);
    expect(dcacheLines(ran.stderr)).toEqual([
      `dcache: skipped gs://${bucket}/k/../escape.csv: a '..' segment in the key`,
      `dcache: skipped gs://${bucket}/k//empty.csv: a key that starts with / below the prefix`,
      `dcache: skipped gs://${bucket}/k/a: also the folder of other keys (a/…)`,
    ]);
  });
});

describe('dcache ls, show, stats and gc with fetch entries', () => {
  let bucket: string;
  const env = () => ({ STORAGE_EMULATOR_HOST: proxies.gs.url });
  beforeEach(() => {
    bucket = `bucket-maintenance-${++gcsBuckets}`;
    gcs.buckets.set(bucket, new Map());
    proxies.gs.take(() => true);
  });

  it('lists a fetch in ls, and shows its source, its directory and its objects in show', async ({ box }) => {
    gcs.put(bucket, 'd/a.csv', 'a\n');
    gcs.put(bucket, 'd/b.csv', 'bb\n');
    await startDcache(box, ['fetch', `gs://${bucket}/d/`, '-o', 'data'], { env: env() }).done;
    const listing = JSON.parse(box.dcache(['ls', '--json']).stdout.toString());
    expect(listing.entries).toHaveLength(1);
    expect(listing.entries[0]).toMatchObject({ argv: ['dcache', 'fetch', `gs://${bucket}/d/`], outputs: [box.path('data')], policies: ['forever'], fresh: true, bytes: 5 });
    expect(plain(box.dcache(['ls']).stdout.toString())).toContain(`dcache fetch gs://${bucket}/d/`);
    const show = plain(box.dcache(['show', listing.entries[0].key]).stdout.toString());
    expect(show).toMatch(new RegExp(`^fetch +gs://${bucket}/d/  \\(dcache fetch\\)$`, 'm'));
    expect(show).toMatch(new RegExp(`^into +${box.path('data')}$`, 'm'));
    expect(show).toMatch(/^objects +2$/m);
    expect(show).toMatch(new RegExp(`^object +d/a.csv -> a.csv \\(2 B, ETag [^,]+, version \\d+\\)$`, 'm'));
    const detail = JSON.parse(box.dcache(['show', '--json', listing.entries[0].key]).stdout.toString());
    expect(detail.fetched.map((o: { key: string; path: string }) => [o.key, o.path])).toEqual([
      ['d/a.csv', 'a.csv'],
      ['d/b.csv', 'b.csv'],
    ]);
  });

  it('counts a fetch that downloads as a miss and one that downloads nothing as a hit', async ({ box }) => {
    gcs.put(bucket, 'd/a.csv', 'a\n');
    for (let i = 0; i < 3; i++) await startDcache(box, ['fetch', `gs://${bucket}/d/`, '-o', 'data'], { env: env() }).done;
    const stats = JSON.parse(box.dcache(['stats', '--json']).stdout.toString());
    expect(stats).toMatchObject({ entries: 1, hits: 2, misses: 1 });
  });

  it('keeps the blobs of a fetch through gc, and after its entry is collected downloads again, quietly', async ({ box }) => {
    gcs.put(bucket, 'd/a.csv', 'a\n');
    gcs.put(bucket, 'd/b.csv', 'bb\n');
    const args = ['fetch', `gs://${bucket}/d/`, '-o', 'data'];
    await startDcache(box, args, { env: env() }).done;
    expect(box.dcache(['gc']).code).toBe(0);
    rmSync(box.path('data/a.csv'));
    proxies.gs.take(() => true);
    expect((await startDcache(box, args, { env: env() }).done).code).toBe(0);
    expect(proxies.gs.take((what) => /alt=media/.test(what))).toEqual([]);
    expect(tree(box.path('data'))).toEqual({ 'a.csv': 'a\n', 'b.csv': 'bb\n' });

    expect(box.dcache(['gc', '--max-size', '1B']).code).toBe(0);
    expect(box.dcache(['ls', '--json']).stdout.toString()).toContain('"entries": []');
    const again = await startDcache(box, args, { env: env() }).done;
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('');
    expect(proxies.gs.take((what) => /alt=media/.test(what))).toHaveLength(2);
    expect(tree(box.path('data'))).toEqual({ 'a.csv': 'a\n', 'b.csv': 'bb\n' });
  });
});

describe('dcache fetch --remote: a fleet shares what it fetched', () => {
  let bucket: string;
  const downloads = () => proxies.gs.take((what) => /[?&]alt=media/.test(what)).length;
  beforeEach(() => {
    bucket = `bucket-fleet-${++gcsBuckets}`;
    gcs.buckets.set(bucket, new Map());
    proxies.gs.take(() => true);
  });
  // host `n`: a cache directory and a working directory of its own, the shared directory as the remote
  const host = (box: Sandbox, n: number, extra: string[] = []) => {
    mkdirSync(box.path(`host${n}`), { recursive: true });
    return startDcache(box, ['fetch', ...extra, '--remote', `file://${box.path('shared')}`, `gs://${bucket}/d/`, '-o', 'data'], {
      cwd: box.path(`host${n}`),
      env: { STORAGE_EMULATOR_HOST: proxies.gs.url, DCACHE_DIR: box.path(`host${n}`, 'cache') },
    }).done;
  };

  it('downloads each changed object once across the hosts, the others taking it from the remote', async ({ box }) => {
    for (let i = 0; i < 20; i++) gcs.put(bucket, `d/${i}.csv`, `${i}\n`);
    expect((await host(box, 1)).code).toBe(0);
    expect(downloads()).toBe(20);
    const second = await host(box, 2, ['-v']);
    expect(second.code).toBe(0);
    expect(downloads()).toBe(0);
    expect(dcacheLines(second.stderr)[0]).toBe(`dcache: gs://${bucket}/d/: added d/0.csv, d/1.csv, d/10.csv, d/11.csv, d/12.csv and 15 more; 20 objects from file://${box.path('shared')}`);
    expect(tree(box.path('host2/data'))).toEqual(tree(box.path('host1/data')));

    gcs.put(bucket, 'd/7.csv', 'seven\n');
    gcs.put(bucket, 'd/20.csv', '20\n');
    expect((await host(box, 2)).code).toBe(0);
    expect(downloads()).toBe(2);
    expect((await host(box, 1)).code).toBe(0);
    expect((await host(box, 3)).code).toBe(0);
    expect(downloads()).toBe(0);
    expect(tree(box.path('host3/data'))['7.csv']).toBe('seven\n');
    expect(tree(box.path('host1/data'))).toEqual(tree(box.path('host2/data')));
  });

  it('shares through a bucket as the remote (moto_server) as through a directory', async ({ box }) => {
    const remoteBucket = await moto.bucket();
    for (let i = 0; i < 10; i++) gcs.put(bucket, `d/${i}.csv`, `${i}\n`);
    const onS3 = (n: number) =>
      startDcache(box, ['fetch', '--remote', `s3://${remoteBucket}/dcache`, `gs://${bucket}/d/`, '-o', 'data'], {
        cwd: (mkdirSync(box.path(`host${n}`), { recursive: true }), box.path(`host${n}`)),
        env: { ...moto.env(), STORAGE_EMULATOR_HOST: proxies.gs.url, DCACHE_DIR: box.path(`host${n}`, 'cache') },
      }).done;
    const runs = await Promise.all([1, 2, 3].map(onS3));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual([
      [0, ''],
      [0, ''],
      [0, ''],
    ]);
    expect(downloads()).toBe(10);
    gcs.put(bucket, 'd/3.csv', 'three\n');
    for (const n of [1, 2, 3]) expect((await onS3(n)).code).toBe(0);
    expect(downloads()).toBe(1);
    expect(tree(box.path('host3/data'))['3.csv']).toBe('three\n');
  });

  it('downloads each object once when four hosts fetch at the same moment', async ({ box }) => {
    for (let i = 0; i < 50; i++) gcs.put(bucket, `d/${i}.csv`, `${i}\n`);
    const runs = await Promise.all([1, 2, 3, 4].map((n) => host(box, n)));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(downloads()).toBe(50);
    for (const n of [2, 3, 4]) expect(tree(box.path(`host${n}/data`))).toEqual(tree(box.path('host1/data')));
  });
});
