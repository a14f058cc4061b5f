import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BlobHash, CacheKey } from '../../src/core/hash.js';
import { HttpRemote } from '../../src/store/remote/http.js';
import { testHost } from '../support/host.js';
import { openRedisRemote } from '../../src/store/remote/redis.js';
import { openRemote, parseRemote } from '../../src/store/remote/registry.js';
import type { RemoteSpec, RemoteBackend } from '../../src/store/remote/backend.js';
import { RedisCluster, RedisServer } from '../support/servers/redis.js';
import { WebDavServer } from '../support/servers/webdav.js';
import { ONE_REQUEST_MAX } from '../../src/cloud/parts.js';
import { Azurite } from '../support/servers/azurite.js';
import { GcsStandIn } from '../support/servers/gcs-standin.js';
import { MotoServer } from '../support/servers/moto.js';

// One contract, every store: the local store (a cache directory), Redis, a
// Redis Cluster, HTTP (nginx with WebDAV), and buckets: S3 (moto_server,
// checking signatures), Azure Blob Storage (Azurite) and the GCS stand-in. Whatever dcache
// asks of a remote, each backend must answer the same way.

const MiB = 1 << 20;

type MakeStore = (options: { readOnly: boolean }) => Promise<RemoteBackend>;

// Unique per call, so tests that share a server never see each other's data.
const newKey = () => randomBytes(8).toString('hex') as CacheKey;
const newHash = () => randomBytes(8).toString('hex') as BlobHash;

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'dcache-contract-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

// Writes `bytes` to a fresh file in the scratch directory and returns its path.
function fileWith(bytes: Buffer): string {
  const path = join(scratch, `blob-${randomBytes(6).toString('hex')}`);
  writeFileSync(path, bytes);
  return path;
}

// Reads a blob back, piece by piece; null when the store says it is absent.
async function readBlob(store: RemoteBackend, hash: BlobHash): Promise<{ bytes: Buffer; pieces: number } | null> {
  const pieces: Buffer[] = [];
  const found = await store.getBlob(hash, (chunk) => {
    pieces.push(Buffer.from(chunk));
  });
  return found ? { bytes: Buffer.concat(pieces), pieces: pieces.length } : null;
}

// Bytes that differ from one offset to the next, so a piece out of order or
// repeated shows.
function patterned(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) bytes.writeUInt32LE(i, i);
  return bytes;
}

export function registerStoreContract(name: string, makeStore: MakeStore): void {
  describe(`${name} store contract`, () => {
    const opened: RemoteBackend[] = [];
    const open = async (readOnly = false) => {
      const store = await makeStore({ readOnly });
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    it('answers null for the manifest of a key it was never given', async () => {
      const store = await open();
      expect(await store.getManifest(newKey())).toBeNull();
    });

    it('gives back the exact bytes of a manifest it was given', async () => {
      const store = await open();
      const key = newKey();
      const bytes = Buffer.concat([Buffer.from('{"format":1,"text":"'), Buffer.from([0xff, 0x00, 0xfe, 0x0a]), Buffer.from('"}')]);
      await store.putManifest(key, bytes);
      expect(await store.getManifest(key)).toEqual(bytes);
    });

    it('gives back the newer manifest when a key is given a second one', async () => {
      const store = await open();
      const key = newKey();
      await store.putManifest(key, Buffer.from('{"recording":"first, and longer than the second"}'));
      await store.putManifest(key, Buffer.from('{"recording":"second"}'));
      expect((await store.getManifest(key))?.toString()).toBe('{"recording":"second"}');
    });

    it('keeps the manifests of two keys apart', async () => {
      const store = await open();
      const [one, two] = [newKey(), newKey()];
      await store.putManifest(one, Buffer.from('{"entry":1}'));
      await store.putManifest(two, Buffer.from('{"entry":2}'));
      expect((await store.getManifest(one))?.toString()).toBe('{"entry":1}');
    });

    it('answers false for a blob it was never given', async () => {
      const store = await open();
      expect(await store.getBlob(newHash(), () => {})).toBe(false);
    });

    it('writes nothing for a blob it was never given', async () => {
      const store = await open();
      let writes = 0;
      await store.getBlob(newHash(), () => {
        writes += 1;
      });
      expect(writes).toBe(0);
    });

    it('says it does not hold a blob it was never given', async () => {
      const store = await open();
      expect(await store.hasBlob(newHash())).toBe(false);
    });

    it('says it holds a blob once it was given it', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = Buffer.from('stdout of a run\n');
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      expect(await store.hasBlob(hash)).toBe(true);
    });

    it('gives back a small blob byte for byte', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x41]);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      expect((await readBlob(store, hash))?.bytes).toEqual(bytes);
    });

    it('gives back a 9 MiB blob byte for byte, in order', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = patterned(9 * MiB + 123);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      const back = await readBlob(store, hash);
      expect(back?.bytes.length).toBe(bytes.length);
      expect(back?.bytes.equals(bytes)).toBe(true);
    });

    it('gives back an 8 MiB blob, a whole number of 4 MiB pieces, byte for byte', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = patterned(8 * MiB);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      expect((await readBlob(store, hash))?.bytes.equals(bytes)).toBe(true);
    });

    it('accepts a blob it already holds, and still gives it back', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = Buffer.from('uploaded twice');
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      expect((await readBlob(store, hash))?.bytes).toEqual(bytes);
    });

    it('gives back a blob larger than one upload request takes (S3 and Azure send it in parts), byte for byte', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = patterned(ONE_REQUEST_MAX + 5 * MiB + 7);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      const back = await readBlob(store, hash);
      expect(back?.bytes.equals(bytes)).toBe(true);
    });

    // what a progress line shows: the bytes sent so far, rising to the size
    // (a directory's kernel copy tells it once, at the end)
    it('tells how much of a blob it has sent as it uploads, up to the whole of it', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = patterned(ONE_REQUEST_MAX + 5 * MiB + 7);
      const heard: number[] = [];
      await store.putBlob(hash, bytes.length, fileWith(bytes), (sent) => heard.push(sent));
      expect(heard.length).toBeGreaterThan(name.startsWith('local') ? 0 : 1);
      expect(heard.at(-1)).toBe(bytes.length);
      expect(Math.max(...heard)).toBe(bytes.length);
      expect((await readBlob(store, hash))?.bytes.equals(bytes)).toBe(true);
    });

    it('streams a 9 MiB blob in more than one piece', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = patterned(9 * MiB);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      const back = await readBlob(store, hash);
      expect(back?.pieces).toBeGreaterThan(1);
    });

    it('waits for each piece to be written before it hands over the next', async () => {
      const store = await open();
      const hash = newHash();
      const bytes = patterned(9 * MiB);
      await store.putBlob(hash, bytes.length, fileWith(bytes));
      let writing = false;
      let overlapped = false;
      await store.getBlob(hash, async () => {
        if (writing) overlapped = true;
        writing = true;
        await new Promise((r) => setTimeout(r, 2));
        writing = false;
      });
      expect(overlapped).toBe(false);
    });

    it('gives back an empty blob as present and empty', async () => {
      const store = await open();
      const hash = newHash();
      await store.putBlob(hash, 0, fileWith(Buffer.alloc(0)));
      expect(await readBlob(store, hash)).toEqual({ bytes: Buffer.alloc(0), pieces: 0 });
    });

    it('says it holds an empty blob once it was given it', async () => {
      const store = await open();
      const hash = newHash();
      await store.putBlob(hash, 0, fileWith(Buffer.alloc(0)));
      expect(await store.hasBlob(hash)).toBe(true);
    });

    it('says it is read-only when opened read-only', async () => {
      const store = await open(true);
      expect(store.readOnly).toBe(true);
    });

    it('says it is writable when opened writable', async () => {
      const store = await open();
      expect(store.readOnly).toBe(false);
    });

    it('refuses to store a manifest when read-only', async () => {
      const store = await open(true);
      await expect(store.putManifest(newKey(), Buffer.from('{}'))).rejects.toThrow(/read-only/);
    });

    it('stores nothing when a read-only manifest upload is refused', async () => {
      const readOnly = await open(true);
      const writable = await open();
      const key = newKey();
      await readOnly.putManifest(key, Buffer.from('{}')).catch(() => {});
      expect(await writable.getManifest(key)).toBeNull();
    });

    it('refuses to store a blob when read-only', async () => {
      const store = await open(true);
      const bytes = Buffer.from('data');
      await expect(store.putBlob(newHash(), bytes.length, fileWith(bytes))).rejects.toThrow(/read-only/);
    });

    it('stores nothing when a read-only blob upload is refused', async () => {
      const readOnly = await open(true);
      const writable = await open();
      const hash = newHash();
      const bytes = Buffer.from('data');
      await readOnly.putBlob(hash, bytes.length, fileWith(bytes)).catch(() => {});
      expect(await writable.hasBlob(hash)).toBe(false);
    });

    it('reads, when read-only, the manifest a writable store wrote', async () => {
      const writable = await open();
      const readOnly = await open(true);
      const key = newKey();
      await writable.putManifest(key, Buffer.from('{"shared":true}'));
      expect((await readOnly.getManifest(key))?.toString()).toBe('{"shared":true}');
    });

    it('reads, when read-only, the blob a writable store wrote', async () => {
      const writable = await open();
      const readOnly = await open(true);
      const hash = newHash();
      const bytes = Buffer.from('shared bytes');
      await writable.putBlob(hash, bytes.length, fileWith(bytes));
      expect((await readBlob(readOnly, hash))?.bytes).toEqual(bytes);
    });

    it('closes twice without complaint', async () => {
      const store = await open();
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
}

function specFor(url: string, readOnly: boolean): RemoteSpec {
  const parsed = parseRemote(url, readOnly, 5_000);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

let localRoot: string;
let redis: RedisServer;
let cluster: RedisCluster;
let webdav: WebDavServer;
let moto: MotoServer;
let azurite: Azurite;
let gcs: GcsStandIn;
let s3Bucket: string;
let azContainer: string;

beforeAll(async () => {
  localRoot = mkdtempSync(join(tmpdir(), 'dcache-contract-local-'));
  [redis, cluster, webdav, moto, azurite, gcs] = await Promise.all([
    RedisServer.start(),
    RedisCluster.start(),
    WebDavServer.start(),
    MotoServer.start(),
    Azurite.start(),
    GcsStandIn.start(),
  ]);
  s3Bucket = await moto.bucket();
  azContainer = await azurite.container();
  gcs.buckets.set('contract', new Map());
});
afterAll(async () => {
  rmSync(localRoot, { recursive: true, force: true });
  await Promise.all([redis?.stop(), cluster?.stop(), webdav?.stop(), moto?.stop(), azurite?.stop(), gcs?.stop()]);
});

// The local store itself: a cache directory, as --remote file:///… opens it.
registerStoreContract('local (a directory)', ({ readOnly }) => {
  const dir = join(localRoot, 'cache');
  return openRemote(specFor(pathToFileURL(dir).toString(), readOnly), {}, testHost());
});

registerStoreContract('Redis', ({ readOnly }) => openRedisRemote(specFor(redis.url(), readOnly)));

registerStoreContract('Redis Cluster', ({ readOnly }) => openRedisRemote(specFor(cluster.url(), readOnly)));

registerStoreContract('HTTP', async ({ readOnly }) => new HttpRemote(specFor(webdav.url('dcache/contract'), readOnly), undefined));

registerStoreContract('S3 (moto_server)', ({ readOnly }) => openRemote(specFor(`s3://${s3Bucket}/dcache`, readOnly), moto.env(), testHost()));

registerStoreContract('Azure Blob Storage (Azurite)', ({ readOnly }) =>
  openRemote(specFor(`az://${azContainer}/dcache`, readOnly), { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString() }, testHost()),
);

registerStoreContract('GCS (the stand-in)', ({ readOnly }) => openRemote(specFor('gs://contract/dcache', readOnly), { STORAGE_EMULATOR_HOST: gcs.host }, testHost()));
