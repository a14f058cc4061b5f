// Fills a cache directory with many entries through the project's own store
// code, without running a command per entry: bench/lib/big-store.js bundles
// this file with esbuild (CommonJS) and runs it as its own process.
//
//   node store-generator.cjs '{"root": "...", "entries": 100000, "now": 1732000000000, "from": 0, "to": 50000}'
//   node store-generator.cjs '{"root": "...", "entries": 100000, "now": 1732000000000, "compact": true}'
//
// The first form writes entries from..to-1 of `entries` (several processes
// can fill one cache in parallel); the second, run once they are done,
// folds the activity logs of past days into the summary.
//
// Every entry is what a recording publishes: a stdout blob moved into place
// by LocalStore.publishBlob, then a manifest published by
// LocalStore.publishManifest, with key material and key from
// src/schema/key.ts. Each entry has its own blob of BLOB_BYTES bytes, so
// that evicting one entry frees exactly one blob. Recording times are spread
// over the 30 days before `now`; every third entry has a hit an hour after
// it was recorded; the hit and miss events go through
// src/store/local/activity.ts, and the days before `now` are folded into its
// summary, as gc would have done.
//
// fsync is turned off in this process: the store syncs every blob, every
// manifest and their directories, which is what makes a real recording
// durable but would make 100,000 of them take minutes here. The files are
// the same; they reach the disk when the kernel writes them back.
import fs from 'node:fs';
import { join } from 'node:path';
import { hashBytes, type BlobHash } from '../../src/core/hash.js';
import { buildKeyMaterial, deriveKey } from '../../src/schema/key.js';
import { MANIFEST_FORMAT, type Manifest } from '../../src/schema/manifest.js';
import { compactActivity, recordEvent } from '../../src/store/local/activity.js';
import { LocalStore } from '../../src/store/local/local-store.js';
import { testHost as benchHost } from '../../test/support/host.js';

export const BLOB_BYTES = 256;
const SPREAD_MS = 30 * 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
// A mix of what users record with; `cron:` makes ls and gc load croner.
const POLICIES = [['daily'], ['ttl:6h'], ['daily@06:00'], ['weekly'], ['forever'], ['daily', 'ttl:12h'], ['cron:0 6 * * 1-5']];
const DIRECTORIES = ['/srv/reports', '/home/ci/builds/project', '/var/lib/exports', null];

interface Request {
  root: string;
  entries: number;
  now: number;
  from?: number;
  to?: number;
  compact?: boolean;
}

interface Summary {
  entries: number;
  blobBytes: number;
  events: number;
}

async function generate({ root, entries, now, from = 0, to = entries, compact = false }: Request): Promise<Summary> {
  if (compact) {
    compactActivity(root, now, process.pid);
    return { entries: 0, blobBytes: 0, events: 0 };
  }
  (fs as { fsyncSync: (fd: number) => void }).fsyncSync = () => {};
  const store = new LocalStore(root, benchHost());
  store.prepare();
  let events = 0;
  for (let i = from; i < to; i++) {
    const payload = Buffer.alloc(BLOB_BYTES, '.');
    payload.write(`export part ${i} of ${entries}\n`);
    payload[BLOB_BYTES - 1] = 0x0a;
    const tempPath = join(root, 'tmp', `generated-${i}.tmp`);
    fs.writeFileSync(tempPath, payload, { mode: 0o600 });
    const stdout = store.publishBlob({ tempPath, hash: hashBytes(payload) as BlobHash, size: BLOB_BYTES });

    const material = buildKeyMaterial({
      argv: ['./export.sh', `--part=${i}`, `--region=${['eu', 'us', 'ap'][i % 3]}`],
      cwd: DIRECTORIES[i % DIRECTORIES.length]!,
      env: i % 5 === 0 ? [['REGION', 'ab'.repeat(16)]] : [],
      outputs: [],
    });
    const recordedAt = now - SPREAD_MS + Math.floor((i * SPREAD_MS) / entries);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      key: deriveKey(material),
      material,
      recordedAt,
      durationMs: 500 + (i % 7919),
      exitCode: 0,
      policies: POLICIES[i % POLICIES.length]!,
      tz: null,
      stdout,
      stderr: null,
      order: null,
      outputs: [],
      validators: [],
    };
    store.publishManifest(manifest);

    recordEvent(root, { t: recordedAt, k: manifest.key, e: 'miss' });
    events += 1;
    if (i % 3 === 0) {
      recordEvent(root, { t: recordedAt + HOUR_MS, k: manifest.key, e: 'hit', saved: manifest.durationMs - 60 });
      events += 1;
    }
  }
  return { entries: to - from, blobBytes: (to - from) * BLOB_BYTES, events };
}

const request = JSON.parse(process.argv[2] ?? '{}') as Request;
if (typeof request.root !== 'string' || !Number.isInteger(request.entries) || !Number.isFinite(request.now)) {
  process.stderr.write('usage: store-generator \'{"root": "<dir>", "entries": <n>, "now": <epoch ms>[, "from": <i>, "to": <j>][, "compact": true]}\'\n');
  process.exit(2);
}
generate(request).then(
  (summary) => process.stdout.write(`${JSON.stringify(summary)}\n`),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
