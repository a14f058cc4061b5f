import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { startNode } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { GcsStandIn } from '../support/servers/gcs-standin.js';

// fetched(source, options) from a program, through the built bundle
// (dist/index.js), against the GCS stand-in: it resolves to the local path,
// downloads again only what changed, and fails with a FetchError.

const BUNDLE = resolve(import.meta.dirname, '../../dist/index.js');

let gcs: GcsStandIn;
beforeAll(async () => {
  gcs = await GcsStandIn.start();
});
afterAll(async () => {
  await gcs?.stop();
});

let buckets = 0;
let bucket: string;
beforeEach(() => {
  bucket = `library-${++buckets}`;
  gcs.buckets.set(bucket, new Map());
});

// A program that calls fetched() once and prints what it resolved to, or
// the error's name, reason and message.
function program(box: Sandbox, call: string): string {
  const path = box.path('program.mjs');
  writeFileSync(
    path,
    `import { fetched, FetchError } from ${JSON.stringify(BUNDLE)};
try {
  console.log(JSON.stringify({ path: await ${call} }));
} catch (err) {
  console.log(JSON.stringify({ error: err.name, reason: err instanceof FetchError ? err.reason : null, message: err.message }));
}
`,
  );
  return path;
}

const run = async (box: Sandbox, call: string) => {
  const done = await startNode(box, program(box, call), [], { env: { STORAGE_EMULATOR_HOST: gcs.host } }).done;
  return { ...JSON.parse(done.stdout.toString()), stderr: done.stderr, code: done.code };
};
const downloads = () => gcs.seen.splice(0).filter((what) => /^GET \/storage\/v1\/b\/[^/]+\/o\/.+/.test(what)).length;

describe('fetched()', () => {
  it('resolves to the local directory of a prefix, and downloads only what changed the next time', async ({ box }) => {
    gcs.put(bucket, 'd/a.csv', 'a\n');
    gcs.put(bucket, 'd/b.csv', 'b\n');
    gcs.seen.splice(0);
    const first = await run(box, `fetched('gs://${bucket}/d/', { output: 'data' })`);
    expect(first).toMatchObject({ path: box.path('data'), stderr: '', code: 0 });
    expect(readFileSync(box.path('data/b.csv'), 'utf8')).toBe('b\n');
    gcs.put(bucket, 'd/b.csv', 'b, newer\n');
    downloads();
    const second = await run(box, `fetched('gs://${bucket}/d/', { output: 'data' })`);
    expect(second.path).toBe(box.path('data'));
    expect(downloads()).toBe(1);
    expect(readFileSync(box.path('data/b.csv'), 'utf8')).toBe('b, newer\n');
  });

  it('resolves to the file of one object', async ({ box }) => {
    gcs.put(bucket, 'acme/customers.csv', 'id\n');
    const done = await run(box, `fetched('gs://${bucket}/acme/customers.csv', { output: 'customers.csv', policy: 'daily' })`);
    expect(done.path).toBe(box.path('customers.csv'));
    expect(readFileSync(done.path, 'utf8')).toBe('id\n');
  });

  it('fails with a FetchError whose reason says whether the call or the source was wrong', async ({ box }) => {
    expect(await run(box, `fetched('gs://${bucket}/missing.csv', { output: 'x.csv' })`)).toMatchObject({
      error: 'FetchError',
      reason: 'failed',
      message: `gs://${bucket}/missing.csv: no such object (notFound)`,
    });
    expect(await run(box, `fetched('gs://${bucket}/d/', { output: 'data', policy: 'dialy' })`)).toMatchObject({ error: 'FetchError', reason: 'usage' });
    expect(await run(box, `fetched('gs://${bucket}/d/', {})`)).toMatchObject({ error: 'TypeError', reason: null });
    expect(await run(box, `fetched('gs://${bucket}/d/', { output: 'data', polcy: 'daily' })`)).toMatchObject({
      error: 'TypeError',
      message: "fetched(): unknown option 'polcy'; the options are output, policy, tz, force, keepRemoved, key, dir, timeout, remote",
    });
  });
});
