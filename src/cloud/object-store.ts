// An object store (S3, GCS, Azure Blob Storage) as dcache uses it: what an
// object is now, and what a prefix holds. Each cloud's client implements it
// over its own REST API; a failure is a CloudError with the cloud's code.

export type { CloudObject, ListedObject, ObjectStore } from './types.js';
import type { ObjectStore } from './types.js';

// The kind of object store a URL names, and where in it.
export interface ObjectAddress {
  cloud: 's3' | 'gs' | 'az';
  bucket: string;
  key: string;
}

export const CLOUD_SCHEMES = { 's3:': 's3', 'gs:': 'gs', 'az:': 'az' } as const;

// s3://bucket/key, gs://bucket/key, az://container/blob; null for other URLs.
export function parseObjectUrl(text: string): ObjectAddress | null {
  const m = /^(s3|gs|az):\/\/([^/]+)\/?(.*)$/i.exec(text);
  if (!m) return null;
  return { cloud: m[1]!.toLowerCase() as ObjectAddress['cloud'], bucket: m[2]!, key: m[3]! };
}

// Opens the client of a cloud, loaded only when a URL of it is used.
export async function openObjectStore(
  cloud: ObjectAddress['cloud'],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  clock: () => number,
): Promise<ObjectStore> {
  switch (cloud) {
    case 's3':
      return new (await import('./s3.js')).S3Store(env, timeoutMs, clock);
    case 'gs':
      return new (await import('./gcs.js')).GcsStore(env, timeoutMs);
    case 'az':
      return (await import('./azure.js')).openAzureStore(env, timeoutMs, clock);
  }
}
