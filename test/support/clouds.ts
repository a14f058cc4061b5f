import { afterAll, beforeAll } from 'vitest';
import type { Sandbox } from './sandbox.js';
import { Azurite } from './servers/azurite.js';
import { GcsStandIn } from './servers/gcs-standin.js';
import { MotoServer } from './servers/moto.js';

// The three clouds dcache speaks to, as real servers a test file starts
// once: moto_server (S3, checking every signature), Azurite (Azure, checking
// Shared Key signatures), and a stand-in for GCS's JSON API, which has no
// emulator this project can install (servers/gcs-standin.ts; it runs in the
// test's own process, so dcache must run in the background against it).

export interface TestCloud {
  // as describe.each names it
  name: string;
  scheme: 's3' | 'gs' | 'az';
  // the environment a user of this cloud's own tools would have
  env(): Record<string, string>;
  // a new, empty bucket (container)
  bucket(): Promise<string>;
  keys(bucket: string): Promise<string[]>;
  put(bucket: string, key: string, body: string): Promise<void>;
  remove(bucket: string, key: string): Promise<void>;
  // an environment whose credentials the cloud refuses, the code it answers
  // with, and the secret that must not be shown
  refused(box: Sandbox): { env: Record<string, string | undefined>; code: string; secret: string | null };
  // an environment that points at a port nobody listens on
  unreachable(port: number): Record<string, string>;
  // the code of a missing object
  notFound: string;
  // called around listings of a prefix: see MotoServer.checkSignatures
  listings?(on: boolean): Promise<void>;
}

export interface CloudServers {
  // for describe.each; each usable once the tests run
  clouds: Array<[string, () => TestCloud]>;
  // the servers themselves, for what only one of them can do (count
  // requests, refuse some, hold many objects), once the tests run
  started(): { moto: MotoServer; azurite: Azurite; gcs: GcsStandIn };
}

// Starts the servers before the file's tests and stops them after.
export function cloudServers(): CloudServers {
  let moto: MotoServer;
  let azurite: Azurite;
  let gcs: GcsStandIn;
  beforeAll(async () => {
    [moto, azurite, gcs] = await Promise.all([MotoServer.start(), Azurite.start(), GcsStandIn.start()]);
  });
  afterAll(async () => {
    await Promise.all([moto?.stop(), azurite?.stop(), gcs?.stop()]);
  });
  let gcsBuckets = 0;
  const clouds: TestCloud[] = [
    {
      name: 'S3 (moto_server)',
      scheme: 's3',
      env: () => moto.env(),
      bucket: () => moto.bucket(),
      keys: (b) => moto.keys(b),
      put: (b, k, body) => moto.put(b, k, body),
      remove: (b, k) => moto.remove(b, k),
      refused: () => ({ env: { ...moto.env(), AWS_SECRET_ACCESS_KEY: 'wrong-secret-5b1d' }, code: 'SignatureDoesNotMatch', secret: 'wrong-secret-5b1d' }),
      unreachable: (port) => ({ ...moto.env(), AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` }),
      notFound: 'NoSuchKey',
      listings: (on) => moto.checkSignatures(!on),
    },
    {
      name: 'Azure Blob Storage (Azurite)',
      scheme: 'az',
      env: () => ({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString() }),
      bucket: () => azurite.container(),
      keys: (b) => azurite.keys(b),
      put: (b, k, body) => azurite.put(b, k, body),
      remove: (b, k) => azurite.remove(b, k),
      refused: () => {
        const key = Buffer.from('wrong-key-8c3e-wrong-key-8c3e').toString('base64');
        return { env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString(key) }, code: 'AuthorizationFailure', secret: key };
      },
      unreachable: (port) => ({
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString().replace(`:${azurite.port}/`, `:${port}/`),
      }),
      notFound: 'BlobNotFound',
    },
    {
      name: 'GCS (a stand-in for its JSON API)',
      scheme: 'gs',
      env: () => ({ STORAGE_EMULATOR_HOST: gcs.host }),
      bucket: async () => {
        const name = `bucket-${++gcsBuckets}`;
        gcs.buckets.set(name, new Map());
        return name;
      },
      keys: async (b) => [...(gcs.buckets.get(b)?.keys() ?? [])],
      put: async (b, k, body) => void gcs.put(b, k, body),
      remove: async (b, k) => gcs.remove(b, k),
      // without the emulator, Google's own chain looks for credentials
      refused: (box) => ({
        env: { STORAGE_EMULATOR_HOST: undefined, GOOGLE_APPLICATION_CREDENTIALS: box.path('no-such-key.json') },
        code: 'no Google credentials',
        secret: null,
      }),
      unreachable: (port) => ({ STORAGE_EMULATOR_HOST: `http://127.0.0.1:${port}` }),
      notFound: 'notFound',
    },
  ];
  return { clouds: clouds.map((cloud) => [cloud.name, () => cloud]), started: () => ({ moto, azurite, gcs }) };
}
