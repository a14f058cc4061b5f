import type { Result } from '../../core/errors.js';
import { fail, ok } from '../../core/errors.js';
import { redactUrl } from '../../core/redact.js';
import { fileURLToPath } from 'node:url';
import type { Host } from '../../ports/host.js';
import { DEFAULT_MAX_ENTRY_BYTES, DEFAULT_STALL_MS, RemoteError, type RemoteSpec, type RemoteBackend } from './backend.js';
import { describeError } from '../../core/errors.js';

// The kinds of shared cache this version knows, by URL scheme. Each is one
// module, loaded only when a remote of its kind is used. Adding a kind is
// one file and one line here.
interface RemoteKind {
  kind: string;
  schemes: readonly string[];
  open(spec: RemoteSpec, env: NodeJS.ProcessEnv, host: Host): Promise<RemoteBackend>;
  // What gc --remote can do with it: the bounds it can keep (it lists what
  // it holds, or it cannot be cleaned), and, where it cannot, what keeps it.
  cleans: { bounds: ReadonlyArray<'age' | 'size' | 'entries'>; otherwise?: string };
}

const KINDS: readonly RemoteKind[] = [
  {
    kind: 'redis',
    schemes: ['redis:', 'rediss:'],
    open: async (spec) => (await import('./redis.js')).openRedisRemote(spec),
    cleans: { bounds: [], otherwise: 'Redis expires what it holds after 30 days' },
  },
  {
    kind: 'http',
    schemes: ['http:', 'https:'],
    open: async (spec, env) => new (await import('./http.js')).HttpRemote(spec, env.DCACHE_REMOTE_TOKEN),
    cleans: { bounds: [], otherwise: 'an HTTP server by its own rules' },
  },
  {
    // A cache directory that several machines mount (NFS), used by one
    // user account (CI runners, a service account's cron jobs): it is held
    // to the rules of a private cache directory.
    kind: 'directory',
    schemes: ['file:'],
    open: async (spec, _env, host) => {
      const { LocalStore } = await import('../local/local-store.js');
      const store = new LocalStore(fileURLToPath(spec.url), host, spec.readOnly);
      try {
        if (!spec.readOnly) store.prepare();
        const unusable = store.whyNotListable();
        if (unusable !== null) throw new Error(unusable);
      } catch (err) {
        throw new RemoteError(`${spec.label}: ${describeError(err)}`);
      }
      return store;
    },
    cleans: { bounds: ['age', 'size', 'entries'] },
  },
  {
    // A bucket: S3 (and the stores that speak its API), GCS, Azure Blob
    // Storage, with the credentials of the cloud sources.
    kind: 'object-store',
    schemes: ['s3:', 'gs:', 'az:'],
    open: async (spec, env, host) => (await import('./object-store.js')).openObjectStoreRemote(spec, env, host),
    cleans: { bounds: ['age'], otherwise: 'a lifecycle rule of the bucket (see docs/remote-cache.md)' },
  },
];

export const DEFAULT_REMOTE_TIMEOUT_MS = 2_000;

const SCHEMES = KINDS.flatMap((k) => k.schemes.map((s) => `${s}//`));

// Checks a --remote / DCACHE_REMOTE URL up front. `?mode=ro` (or
// --remote-read-only) makes it read-only.
export function parseRemote(
  text: string,
  readOnlyFlag: boolean,
  timeoutMs: number,
  limits: Pick<RemoteSpec, 'stallMs' | 'maxEntryBytes'> = { stallMs: DEFAULT_STALL_MS, maxEntryBytes: DEFAULT_MAX_ENTRY_BYTES },
): Result<RemoteSpec, string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`--remote '${redactUrl(text)}' is not a URL; use redis://host:6379 or https://cache.example.com/dcache`);
  }
  const kind = KINDS.find((k) => k.schemes.includes(url.protocol));
  if (kind === undefined) return fail(`--remote '${redactUrl(text)}': use a ${listOr(SCHEMES)} URL`);
  if (kind.kind === 'object-store' && url.host === '') {
    return fail(`--remote '${redactUrl(text)}': name the bucket, as in ${url.protocol}//bucket/prefix`);
  }
  const mode = url.searchParams.get('mode');
  if (mode !== null && mode !== 'ro' && mode !== 'rw') return fail(`--remote: mode=${mode} is not a mode; use mode=ro or mode=rw`);
  url.searchParams.delete('mode');
  const label = redactUrl(url.toString());
  return ok({ kind: kind.kind, url, label, readOnly: readOnlyFlag || mode === 'ro', timeoutMs, ...limits });
}

// What gc --remote can do with a remote of this spec's kind (see RemoteKind.cleans).
export function cleaningOf(spec: RemoteSpec): RemoteKind['cleans'] {
  const kind = KINDS.find((k) => k.kind === spec.kind);
  return kind?.cleans ?? { bounds: [] };
}

// The schemes whose remotes gc --remote can clean, for a message.
export function cleanableSchemes(): string[] {
  // (the clouds first, a shared directory last)
  const cleanable = KINDS.filter((k) => k.cleans.bounds.length > 0).sort((a, b) => a.cleans.bounds.length - b.cleans.bounds.length);
  return cleanable.flatMap((k) => k.schemes.map((s) => `${s}//`));
}

// Connects to the remote a spec names; its client library loads only here.
export async function openRemote(spec: RemoteSpec, env: NodeJS.ProcessEnv, host: Host): Promise<RemoteBackend> {
  const kind = KINDS.find((k) => k.kind === spec.kind);
  if (kind === undefined) throw new Error(`no remote kind ${spec.kind}`);
  return kind.open(spec, env, host);
}

// "a, b or c"
function listOr(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
