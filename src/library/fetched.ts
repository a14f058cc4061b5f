import { homedir } from 'node:os';
import { ExitError } from '../core/errors.js';
import { fetchInto } from '../fetch/fetch-into.js';
import { processHost } from '../setup/process-host.js';
import { libraryReporter } from './reporter.js';

// fetched(source, options): `dcache fetch` from a program, resolving to the
// local path of what was fetched (as fsspec's open_local does): an object,
// a prefix or a glob of keys of s3://, gs:// or az://, downloaded again only
// where it changed. `output` is required: a program has no stdout to write
// an object to.

export interface FetchedOptions {
  // the file (one object) or the directory (a prefix or glob) to write,
  // relative to the working directory
  output: string;
  // check the source only once this policy says the last fetch is stale
  // (daily, daily@06:00, ttl:1h...); by default, at every call
  policy?: string;
  // the zone of calendar policies
  tz?: string;
  // check the source even if `policy` says the last fetch is fresh
  force?: boolean;
  // keep the files of objects removed from the source (default: false)
  keepRemoved?: boolean;
  // extra text mixed into the key
  key?: string;
  // the cache directory (default: as dcache's, DCACHE_DIR)
  dir?: string;
  // how long the store may take to answer, or a download to move 64 KiB ('10s')
  timeout?: string;
  // the shared cache a fleet shares what it fetched through (default: DCACHE_REMOTE)
  remote?: string;
}

// Why fetched() did not fetch: `usage` (a bad source or option) or
// `failed` (the source could not be read, a download failed or did not
// verify, a file could not be written). The message is dcache's own line.
export class FetchError extends Error {
  constructor(
    message: string,
    readonly reason: 'usage' | 'failed',
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

export async function fetched(source: string, options: FetchedOptions): Promise<string> {
  if (typeof source !== 'string') throw new TypeError(`fetched(): the source must be a string such as 's3://bucket/key', not ${typeof source}`);
  if (typeof options !== 'object' || options === null || typeof options.output !== 'string' || options.output === '') {
    throw new TypeError('fetched(): give { output } — the file (one object) or the directory (a prefix or glob) to fetch into');
  }
  const known = new Set(['output', 'policy', 'tz', 'force', 'keepRemoved', 'key', 'dir', 'timeout', 'remote']);
  const unknown = Object.keys(options).find((name) => !known.has(name));
  if (unknown !== undefined) throw new TypeError(`fetched(): unknown option '${unknown}'; the options are ${[...known].join(', ')}`);
  const env = process.env;
  try {
    const path = await fetchInto({
      source,
      options: {
        output: options.output,
        policy: options.policy === undefined ? [] : [options.policy],
        tz: options.tz,
        key: options.key,
        dir: options.dir,
        force: options.force === true,
        delete: options.keepRemoved !== true,
        timeout: options.timeout,
        remote: options.remote ?? env.DCACHE_REMOTE ?? undefined,
        remoteReadOnly: false,
        remoteTimeout: undefined,
        signingKeyFile: env.DCACHE_SIGNING_KEY_FILE ?? null,
      },
      cwd: process.cwd(),
      home: homedir(),
      env,
      nowText: env.DCACHE_NOW,
      host: processHost(),
      stdout: () => process.stdout,
      reporter: libraryReporter(),
    });
    return path!;
  } catch (err) {
    if (err instanceof ExitError) throw new FetchError(err.message, err.exitCode === 2 ? 'usage' : 'failed');
    throw err;
  }
}
