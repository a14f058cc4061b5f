import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { GcsStandIn } from '../support/servers/gcs-standin.js';
import type { MotoServer } from '../support/servers/moto.js';
import { cloudServers, type TestCloud } from '../support/clouds.js';
import { filesHolding, onlyEntry } from '../support/cache-files.js';
import { beforeAll, beforeEach, describe, expect, it, onTestFinished } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { HangingServer } from '../support/servers/hanging-server.js';
import { freePort } from '../support/servers/ports.js';

// Watched objects, prefixes and globs in S3, GCS and Azure Blob Storage,
// against real servers: moto_server (S3, checking every signature), Azurite
// (Azure, checking Shared Key signatures), and a stand-in for GCS, which
// has no emulator this project can install (test/support/servers/gcs-standin.ts).

type Cloud = TestCloud;
const servers = cloudServers();
const clouds = servers.clouds;
let moto: MotoServer;
let gcs: GcsStandIn;
beforeAll(() => void ({ moto, gcs } = servers.started()));

const dcacheLines = (stderr: string) => plain(stderr).split('\n').filter((l) => l.startsWith('dcache:'));

describe.each(clouds)('a watched object in %s', (_name, cloudOf) => {
  let cloud: Cloud;
  let bucket: string;
  const url = (key: string) => `${cloud.scheme}://${bucket}/${key}`;
  // dcache in the box, with this cloud's environment; the server may be
  // this process (the GCS stand-in), so it runs in the background
  const dcache = async (box: Sandbox, args: string[], env: Record<string, string | undefined> = {}) =>
    startDcache(box, args, { env: { ...cloud.env(), ...env } }).done;
  beforeEach(async () => {
    cloud = cloudOf();
    bucket = await cloud.bucket();
  });

  it('is a hit while the object is unchanged, and a miss once it is uploaded again with new bytes', async ({ box }) => {
    await cloud.put(bucket, 'acme/customers.csv', 'id,name\n');
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const args = ['run', '-p', 'forever', '-w', url('acme/customers.csv'), '--', fetch.path];
    expect((await dcache(box, args)).code).toBe(0);
    const hit = await dcache(box, args);
    expect(hit.stdout.toString()).toBe('fetched\n');
    expect(hit.stderr).toBe('');
    expect(fetch.runs()).toBe(1);

    await cloud.put(bucket, 'acme/customers.csv', 'id,name\n1,acme\n');
    const miss = await dcache(box, ['run', '-v', ...args.slice(1)]);
    expect(fetch.runs()).toBe(2);
    expect(dcacheLines(miss.stderr)[0]).toMatch(
      new RegExp(`^dcache: miss \\(${url('acme/customers.csv')} changed: .*size 8 B → 15 B.*\\); running `),
    );
    await dcache(box, args);
    expect(fetch.runs()).toBe(2);
  });

  it('watches a prefix: an object added, changed or removed under it is a change, and -v says which', async ({ box }) => {
    await cloud.listings?.(true);
    onTestFinished(() => cloud.listings?.(false));
    await cloud.put(bucket, 'daily/a.csv', 'a\n');
    await cloud.put(bucket, 'daily/b.csv', 'b\n');
    const fetch = box.counter('fetch-all.sh', 'echo all');
    const args = ['run', '-v', '-p', 'forever', '-w', url('daily/'), '--', fetch.path];
    await dcache(box, args);

    await cloud.put(bucket, 'weekly/c.csv', 'not under the prefix\n');
    expect(dcacheLines((await dcache(box, args)).stderr)[0]).toMatch(/^dcache: hit/);

    const steps: Array<[() => Promise<void>, string]> = [
      [() => cloud.put(bucket, 'daily/c.csv', 'c\n'), 'added daily/c.csv'],
      [() => cloud.put(bucket, 'daily/a.csv', 'a, fixed\n'), 'changed daily/a.csv'],
      [() => cloud.remove(bucket, 'daily/b.csv'), 'removed daily/b.csv'],
    ];
    for (const [change, said] of steps) {
      await change();
      const miss = await dcache(box, args);
      expect(dcacheLines(miss.stderr)[0]).toBe(`dcache: miss (${url('daily/')} changed: ${said}); running ${fetch.path}`);
    }
    expect(fetch.runs()).toBe(4);
  });

  it('watches a glob over keys: only keys it matches count', async ({ box }) => {
    await cloud.listings?.(true);
    onTestFinished(() => cloud.listings?.(false));
    await cloud.put(bucket, '2026-01/x.csv', 'x\n');
    const fetch = box.counter('fetch.sh', 'echo csvs');
    const args = ['run', '-p', 'forever', '-w', url('2026-*/*.csv'), '--', fetch.path];
    await dcache(box, args);
    await cloud.put(bucket, '2026-01/notes.txt', 'not a csv\n');
    await cloud.put(bucket, '2025-12/y.csv', 'last year\n');
    await dcache(box, args);
    expect(fetch.runs()).toBe(1);
    await cloud.put(bucket, '2026-02/y.csv', 'y\n');
    await dcache(box, args);
    expect(fetch.runs()).toBe(2);
  });

  it('counts a missing object as changed, with one warning naming it and the cloud’s code; the exit code passes through', async ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo tried; exit 3');
    for (const round of [1, 2]) {
      const ran = await dcache(box, ['run', '-p', 'forever', '-w', url('acme/missing.csv'), '--', fetch.path]);
      expect(ran.code).toBe(3);
      expect(ran.stdout.toString()).toBe('tried\n');
      expect(dcacheLines(ran.stderr)).toEqual([
        `dcache: cannot check a watched source, so it counts as changed: ${url('acme/missing.csv')}: no such object (${cloud.notFound})`,
      ]);
      expect(fetch.runs()).toBe(round);
    }
  });

  it('counts a refusal of the credentials as changed, naming the cloud’s code, and shows no secret anywhere', async ({ box }) => {
    await cloud.put(bucket, 'acme/customers.csv', 'id\n');
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const { env, code, secret } = cloud.refused(box);
    for (const args of [
      ['run', '-v', '-p', 'forever', '-w', url('acme/customers.csv'), '--', fetch.path],
      ['run', '-v', '-p', 'forever', '-w', url('acme/'), '--', fetch.path],
    ]) {
      const ran = await dcache(box, args, env);
      expect(ran.code).toBe(0);
      const warnings = dcacheLines(ran.stderr).filter((l) => l.includes('cannot check'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(code);
      if (secret !== null) expect(ran.stderr).not.toContain(secret);
      const explained = await dcache(box, ['run', '--explain', ...args.slice(2)], env);
      if (secret !== null) expect(explained.stderr).not.toContain(secret);
    }
    // --explain runs the command too, after saying why
    expect(fetch.runs()).toBe(4);
    if (secret !== null) expect(filesHolding(box.cacheDir, secret)).toEqual([]);
  });

  it('counts a store that does not answer as changed, with the network’s code', async ({ box }) => {
    const port = await freePort();
    const ran = await dcache(box, ['run', '-w', url('acme/customers.csv'), '--', 'echo', 'ran'], cloud.unreachable(port));
    expect(ran.code).toBe(0);
    expect(ran.stdout.toString()).toBe('ran\n');
    expect(dcacheLines(ran.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^dcache: cannot check a watched source, so it counts as changed: ${url('acme/customers.csv')}: .*ECONNREFUSED`)),
    ]);
  });

  it('gives up on a store that hangs after --watch-timeout, and the command runs', async ({ box }) => {
    const hanging = await HangingServer.start();
    try {
      const ran = await dcache(box, ['run', '--watch-timeout', '1s', '-w', url('acme/'), '--', 'echo', 'ran'], cloud.unreachable(hanging.port));
      expect(ran.stdout.toString()).toBe('ran\n');
      expect(dcacheLines(ran.stderr)).toEqual([
        `dcache: cannot check a watched source, so it counts as changed: ${url('acme/')}: no answer within 1 s (Timeout)`,
      ]);
      expect(hanging.asked).toBeGreaterThan(0);
    } finally {
      await hanging.stop();
    }
  });

  it('stores the object’s fingerprint in the entry, and --explain shows what changed', async ({ box }) => {
    await cloud.put(bucket, 'report.csv', 'v1\n');
    const args = ['-p', 'forever', '-w', url('report.csv'), '--', 'echo', 'report'];
    await dcache(box, ['run', ...args]);
    const [validator] = onlyEntry(box.cacheDir).validators as Array<Record<string, unknown>>;
    expect(validator).toMatchObject({ kind: cloud.scheme, source: url('report.csv'), size: 3 });
    expect(validator!.etag).toEqual(expect.any(String));
    await cloud.put(bucket, 'report.csv', 'v2, longer\n');
    const explained = await dcache(box, ['run', '--explain', ...args]);
    expect(dcacheLines(explained.stderr)).toContainEqual(
      expect.stringMatching(new RegExp(`^dcache: watch ${url('report.csv')}: recorded ETag .*, 3 B.*; now ETag .*, 11 B.*: changed \\(ETag .* → .*size 3 B → 11 B`)),
    );
  });
});

describe('S3 credentials found as the AWS CLI finds them', () => {
  it('reads a profile of the shared credentials and config files (AWS_PROFILE), and nothing of the AWS SDK reaches stderr', async ({ box }) => {
    const bucket = await moto.bucket();
    await moto.put(bucket, 'acme/customers.csv', 'id\n');
    mkdirSync(box.path('aws'));
    const { accessKeyId, secretAccessKey } = moto.credentials;
    writeFileSync(box.path('aws', 'credentials'), `[exports]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secretAccessKey}\n`);
    writeFileSync(box.path('aws', 'config'), `[profile exports]\nregion = us-east-1\nendpoint_url = ${moto.url}\n`);
    const env = {
      AWS_PROFILE: 'exports',
      AWS_SHARED_CREDENTIALS_FILE: box.path('aws', 'credentials'),
      AWS_CONFIG_FILE: box.path('aws', 'config'),
      // instance metadata must not be asked here
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const args = ['run', '-p', 'forever', '-w', `s3://${bucket}/acme/customers.csv`, '--', fetch.path];
    for (const _round of [1, 2]) {
      const ran = await startDcache(box, args, { env }).done;
      expect(ran.code).toBe(0);
      expect(ran.stderr).toBe('');
      expect(fetch.runs()).toBe(1);
    }
    await moto.put(bucket, 'acme/customers.csv', 'id\n1\n');
    await startDcache(box, args, { env }).done;
    expect(fetch.runs()).toBe(2);
  });

  it('says so in one line when there are none', async ({ box }) => {
    const env = {
      AWS_SHARED_CREDENTIALS_FILE: box.path('none'),
      AWS_CONFIG_FILE: box.path('none'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_S3: moto.url,
    };
    const ran = await startDcache(box, ['run', '-w', 's3://exports/a.csv', '--', 'true'], { env }).done;
    expect(ran.code).toBe(0);
    expect(dcacheLines(ran.stderr)).toEqual([expect.stringMatching(/^dcache: cannot check a watched source, so it counts as changed: s3:\/\/exports\/a\.csv: no AWS credentials/)]);
  });
});

describe('a listing of 10,000 keys (the GCS stand-in, 1,000 a page)', () => {
  it('is read page by page and stored as one hash; a key added to it is a change', async ({ box }) => {
    gcs.buckets.set('big', new Map());
    for (let i = 0; i < 10_000; i++) gcs.put('big', `exports/part-${String(i).padStart(5, '0')}.csv`, `${i}\n`);
    gcs.pageSize = 1000;
    const env = { STORAGE_EMULATOR_HOST: gcs.host };
    const args = ['run', '-v', '-p', 'forever', '-w', 'gs://big/exports/', '--', 'echo', 'all parts'];
    const listedBefore = gcs.seen.length;
    await startDcache(box, args, { env }).done;
    expect(gcs.seen.length - listedBefore).toBe(10);
    const validator = (onlyEntry(box.cacheDir).validators as Array<Record<string, unknown>>)[0]!;
    expect(validator).toMatchObject({ kind: 'gs', count: 10_000, objects: null });
    expect(validator.listing).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(validator).length).toBeLessThan(500);

    expect(dcacheLines((await startDcache(box, args, { env }).done).stderr)[0]).toMatch(/^dcache: hit/);
    gcs.put('big', 'exports/part-10000.csv', 'late\n');
    const miss = await startDcache(box, args, { env }).done;
    expect(dcacheLines(miss.stderr)[0]).toBe('dcache: miss (gs://big/exports/ changed: 10000 objects then, 10001 now); running echo \'all parts\'');
  });
});

// A listing that takes longer than --watch-timeout is given up at the
// deadline, and no page of it is asked for after that: the command (which
// runs only once the check has given up) sees no request arrive.
describe('a listing slower than --watch-timeout (the GCS stand-in, a page each 300 ms)', () => {
  it('stops asking for pages at the deadline', async ({ box }) => {
    gcs.buckets.set('slow', new Map());
    for (let i = 0; i < 500; i++) gcs.put('slow', `exports/part-${String(i).padStart(4, '0')}.csv`, `${i}\n`);
    gcs.pageSize = 10;
    // (not a divisor of the 1 s deadline, so no page is asked for just as it passes)
    gcs.pageDelayMs = 300;
    const afterStart: string[] = [];
    gcs.onRequest = (what) => {
      if (existsSync(box.path('started'))) afterStart.push(what);
    };
    onTestFinished(() => {
      gcs.pageSize = 1000;
      gcs.pageDelayMs = 0;
      gcs.onRequest = () => {};
    });
    const command = `touch '${box.path('started')}'; sleep 2; echo ran`;
    const ran = await startDcache(box, ['run', '--watch-timeout', '1s', '-w', 'gs://slow/exports/', '--', 'sh', '-c', command], {
      env: { STORAGE_EMULATOR_HOST: gcs.host },
    }).done;
    expect(ran.stdout.toString()).toBe('ran\n');
    expect(dcacheLines(ran.stderr)).toEqual([
      'dcache: cannot check a watched source, so it counts as changed: gs://slow/exports/: no answer within 1 s (Timeout)',
    ]);
    expect(afterStart).toEqual([]);
  });
});
