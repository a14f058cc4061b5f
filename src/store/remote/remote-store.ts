import type { BlobHash, CacheKey } from '../../hash.js';
import type { LeaseTiming, LockOutcome, WaitHooks } from '../../engine/lease.js';
import type { LockIdentity } from '../local/lock.js';
import type { Result } from '../../errors.js';
import { fail, ok } from '../../errors.js';
import { redactCredentials } from '../../redact.js';

// A shared cache on another machine: Redis or any HTTP server that answers
// GET, HEAD and PUT. It holds the same manifests and blobs as the local
// store. Everything it returns is untrusted and verified by the caller.
// Any method may throw (down, slow, refused): the caller then stops using
// the remote for the rest of the process.
export interface RemoteStore {
  // the URL without credentials, for messages
  readonly label: string;
  readonly readOnly: boolean;
  // the manifest's bytes, or null if the remote has none for this key
  getManifest(key: CacheKey): Promise<Buffer | null>;
  // streams a blob to `write`, chunk by chunk, waiting on each; false if
  // absent. `size` is what the manifest says, for the deadline.
  getBlob(hash: BlobHash, write: (chunk: Uint8Array) => Promise<void> | void, size?: number): Promise<boolean>;
  hasBlob(hash: BlobHash): Promise<boolean>;
  // uploads the file at `path`, `size` bytes, as the blob `hash`
  putBlob(hash: BlobHash, size: number, path: string): Promise<void>;
  putManifest(key: CacheKey, bytes: Buffer): Promise<void>;
  // single flight across machines, where the backend can offer it
  lock?(key: CacheKey, timing: LeaseTiming, me: LockIdentity, hooks: WaitHooks): Promise<LockOutcome>;
  close(): Promise<void>;
}

export interface RemoteSpec {
  kind: 'redis' | 'http';
  // the URL to connect to, credentials included, `mode` removed
  url: URL;
  label: string;
  readOnly: boolean;
  timeoutMs: number;
}

export const DEFAULT_REMOTE_TIMEOUT_MS = 2_000;

// The slowest transfer worth waiting for: a blob may take the timeout plus
// one second per MiB (a link of 1 MiB/s still moves blobs, while a server
// that drips or stops is found out).
const MS_PER_BYTE = 1000 / (1 << 20);

export function transferBudgetMs(timeoutMs: number, bytes: number): number {
  return timeoutMs + Math.ceil(bytes * MS_PER_BYTE);
}

// Checks a --remote / DCACHE_REMOTE URL up front. `?mode=ro` (or
// --remote-read-only) makes it read-only.
export function parseRemote(text: string, readOnlyFlag: boolean, timeoutMs: number): Result<RemoteSpec, string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`--remote '${redactCredentials(text)}' is not a URL; use redis://host:6379 or https://cache.example.com/dcache`);
  }
  const kind = url.protocol === 'redis:' || url.protocol === 'rediss:' ? 'redis' : url.protocol === 'http:' || url.protocol === 'https:' ? 'http' : null;
  if (kind === null) {
    return fail(`--remote '${redactCredentials(text)}': use a redis://, rediss://, http:// or https:// URL`);
  }
  const mode = url.searchParams.get('mode');
  if (mode !== null && mode !== 'ro' && mode !== 'rw') return fail(`--remote: mode=${mode} is not a mode; use mode=ro or mode=rw`);
  url.searchParams.delete('mode');
  const label = redactCredentials(url.toString());
  return ok({ kind, url, label, readOnly: readOnlyFlag || mode === 'ro', timeoutMs });
}

// Connects to the remote a spec names; the client libraries load only here.
export async function openRemote(spec: RemoteSpec, env: NodeJS.ProcessEnv): Promise<RemoteStore> {
  if (spec.kind === 'http') {
    const { HttpRemote } = await import('./http.js');
    return new HttpRemote(spec, env.DCACHE_REMOTE_TOKEN);
  }
  const { openRedisRemote } = await import('./redis.js');
  return openRedisRemote(spec);
}
