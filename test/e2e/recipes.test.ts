import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { BIN, type Result, type Sandbox } from '../support/sandbox.js';
import { RedisServer } from '../support/servers/redis.js';

// The README's recipes, the dcache part of each run as written, through
// /bin/sh, with `dcache` found on PATH. Where a recipe needs a cloud CLI
// (gsutil, aws), a stand-in script of that name comes first on PATH. The
// Makefile recipe is tried in makefile.test.ts.

// Holds `dcache` and the stand-ins; first on PATH.
const bin = (box: Sandbox) => box.path('bin');
beforeEach(({ box }) => {
  mkdirSync(bin(box));
  executable(join(bin(box), 'dcache'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
});

function executable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

// Runs a recipe's lines through /bin/sh in `cwd`, dcache and the stand-ins
// first on PATH.
function recipe(box: Sandbox, lines: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Result {
  return box.shell(lines, { cwd: options.cwd, env: { PATH: `${bin(box)}:${box.env.PATH}`, ...options.env } });
}

describe('the cron recipe', () => {
  // The line after the five time fields of
  //   15 6 * * * cd /srv/reports && dcache run -q --stale-if-error -o raw/customers.csv -- ./fetch-customers.sh
  let reports: string;
  let fetch: { runs: () => number };
  beforeEach(({ box }) => {
    reports = box.path('srv', 'reports');
    mkdirSync(reports, { recursive: true });
    mkdirSync(box.path('home'));
    fetch = box.counter(
      'srv/reports/fetch-customers.sh',
      `if [ -e '${box.path('upstream-down')}' ]; then echo 'fetch: upstream answered 503' >&2; exit 6; fi\nmkdir -p raw && printf 'id,name\\n1,acme\\n2,globex\\n' > raw/customers.csv`,
    );
  });

  // As cron runs a job: /bin/sh, a bare PATH, HOME, and nothing else; so
  // the cache is the default one under HOME.
  function cronJob(box: Sandbox, now: string): Result {
    const r = spawnSync('/bin/sh', ['-c', `cd ${reports} && dcache run -q --stale-if-error -o raw/customers.csv -- ./fetch-customers.sh`], {
      cwd: box.path('home'),
      env: { HOME: box.path('home'), LOGNAME: 'reports', SHELL: '/bin/sh', PATH: `${bin(box)}:/usr/bin:/bin`, DCACHE_NOW: now },
    });
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString() };
  }

  it('fetches on the first job of the day, silently, and leaves the file', ({ box }) => {
    const r = cronJob(box, '2024-08-27T06:15:00');
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fetch.runs()).toBe(1);
    expect(readFileSync(join(reports, 'raw', 'customers.csv'), 'utf8')).toBe('id,name\n1,acme\n2,globex\n');
  });

  it('does not fetch again on a second job the same day, which also leaves the file', ({ box }) => {
    cronJob(box, '2024-08-27T06:15:00');
    rmSync(join(reports, 'raw'), { recursive: true });
    const r = cronJob(box, '2024-08-27T06:15:30');
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fetch.runs()).toBe(1);
    expect(readFileSync(join(reports, 'raw', 'customers.csv'), 'utf8')).toBe('id,name\n1,acme\n2,globex\n');
  });

  it('prints, for cron to mail, that it served yesterday\'s file on a day the fetch fails', ({ box }) => {
    cronJob(box, '2024-08-27T06:15:00');
    writeFileSync(box.path('upstream-down'), '');
    const r = cronJob(box, '2024-08-28T06:15:00');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toBe(
      'fetch: upstream answered 503\ndcache: the command failed (exit 6); replaying the entry recorded 24h ago (2024-08-27 06:15:00 +00:00) instead (--stale-if-error)\n',
    );
    expect(readFileSync(join(reports, 'raw', 'customers.csv'), 'utf8')).toBe('id,name\n1,acme\n2,globex\n');
  });

  it('keeps its cache under the HOME cron gives it', ({ box }) => {
    cronJob(box, '2024-08-27T06:15:00');
    expect(existsSync(box.path('home', '.cache', 'dcache', 'entries'))).toBe(true);
  });

  it('fetches again on the first job of the next day', ({ box }) => {
    cronJob(box, '2024-08-27T06:15:00');
    const r = cronJob(box, '2024-08-28T06:15:00');
    expect(r.code).toBe(0);
    expect(fetch.runs()).toBe(2);
  });
});

describe('the notebook recipe', () => {
  // !dcache run -o raw.parquet -- python fetch.py
  const PARQUET = Buffer.concat([Buffer.from('PAR1'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('PAR1')]);
  beforeEach(({ box }) => {
    // `python` is the kernel's Python; here, whichever python3 is on PATH.
    executable(join(bin(box), 'python'), '#!/bin/sh\nexec python3 "$@"\n');
    writeFileSync(
      box.path('fetch.py'),
      [
        'with open("fetch.py.count", "a") as count:',
        '    count.write("run\\n")',
        `data = bytes.fromhex("${PARQUET.toString('hex')}")`,
        'with open("raw.parquet", "wb") as out:',
        '    out.write(data)',
        'print(f"fetched {len(data)} bytes")',
        '',
      ].join('\n'),
    );
  });
  const fetchRuns = (box: Sandbox) => readFileSync(box.path('fetch.py.count'), 'utf8').split('\n').filter(Boolean).length;

  it('runs fetch.py in the first cell and writes raw.parquet', ({ box }) => {
    const r = recipe(box, 'dcache run -o raw.parquet -- python fetch.py');
    expect(r.stdout.toString()).toBe('fetched 264 bytes\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(box.path('raw.parquet'))).toEqual(PARQUET);
  });

  it('brings raw.parquet back after a restart without running fetch.py again', ({ box }) => {
    recipe(box, 'dcache run -o raw.parquet -- python fetch.py');
    rmSync(box.path('raw.parquet'));
    const r = recipe(box, 'dcache run -o raw.parquet -- python fetch.py');
    expect(r.stdout.toString()).toBe('fetched 264 bytes\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fetchRuns(box)).toBe(1);
    expect(readFileSync(box.path('raw.parquet'))).toEqual(PARQUET);
  });
});

// A bucket on local disk: an object's bytes, and metadata that changes with
// every upload, as a generation number and an ETag do.
class FakeBucket {
  private generation = 0;
  constructor(readonly dir: string) {
    mkdirSync(dir);
  }

  upload(name: string, content: string): void {
    this.generation += 1;
    writeFileSync(join(this.dir, name), content);
    writeFileSync(join(this.dir, `${name}.generation`), `17247384000000${this.generation}\n`);
  }

  // How many times a stand-in CLI copied an object out.
  copies(): number {
    const file = join(this.dir, 'copies');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
  }
}

describe('the Google Cloud Storage recipe', () => {
  const RECIPE = `dcache run -p forever --watch-cmd 'gsutil stat gs://exports/customers.csv' -o customers.csv -- \\
  gsutil cp gs://exports/customers.csv customers.csv`;
  let bucket: FakeBucket;
  beforeEach(({ box }) => {
    bucket = new FakeBucket(box.path('gs-exports'));
    // gsutil stat prints the object's metadata; gsutil cp copies it and
    // reports progress on stderr.
    executable(
      join(bin(box), 'gsutil'),
      `#!/bin/sh
bucket='${bucket.dir}'
name=\${2#gs://exports/}
case "$1" in
  stat)
    [ -f "$bucket/$name" ] || { echo "No URLs matched: $2" >&2; exit 1; }
    echo "$2:"
    echo "    Content-Length:         $(wc -c < "$bucket/$name" | tr -d ' ')"
    echo "    Generation:             $(cat "$bucket/$name.generation")"
    echo "    Metageneration:         1"
    ;;
  cp)
    echo copy >> "$bucket/copies"
    echo "Copying $2..." >&2
    cp "$bucket/$name" "$3"
    ;;
  *) echo "gsutil stand-in: $*" >&2; exit 1 ;;
esac
`,
    );
  });

  it('copies the object on the first call', ({ box }) => {
    bucket.upload('customers.csv', 'id,name\n1,acme\n');
    const r = recipe(box, RECIPE);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toBe('Copying gs://exports/customers.csv...\n');
    expect(r.code).toBe(0);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
  });

  it('replays the copy and restores the file while the object is unchanged', ({ box }) => {
    bucket.upload('customers.csv', 'id,name\n1,acme\n');
    recipe(box, RECIPE);
    rmSync(box.path('customers.csv'));
    const r = recipe(box, RECIPE);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toBe('Copying gs://exports/customers.csv...\n');
    expect(r.code).toBe(0);
    expect(bucket.copies()).toBe(1);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
  });

  it('copies again, the same day, once the object is re-uploaded', ({ box }) => {
    bucket.upload('customers.csv', 'id,name\n1,acme\n');
    recipe(box, RECIPE);
    bucket.upload('customers.csv', 'id,name\n1,acme\n2,globex\n');
    const r = recipe(box, RECIPE);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toBe('Copying gs://exports/customers.csv...\n');
    expect(r.code).toBe(0);
    expect(bucket.copies()).toBe(2);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n2,globex\n');
  });
});

describe('the S3 recipe', () => {
  const RECIPE = `dcache run -p forever --watch-cmd 'aws s3api head-object --bucket exports --key customers.csv --query ETag' \\
  -o customers.csv -- aws s3 cp s3://exports/customers.csv customers.csv`;
  let bucket: FakeBucket;
  beforeEach(({ box }) => {
    bucket = new FakeBucket(box.path('s3-exports'));
    // head-object --query ETag prints the ETag as a JSON string; s3 cp
    // copies and says so on stdout.
    executable(
      join(bin(box), 'aws'),
      `#!/bin/sh
bucket='${bucket.dir}'
case "$1 $2" in
  "s3api head-object")
    [ "$3 $4 $5" = "--bucket exports --key" ] && [ "$7 $8" = "--query ETag" ] || { echo "aws stand-in: $*" >&2; exit 252; }
    [ -f "$bucket/$6" ] || { echo "An error occurred (404) when calling the HeadObject operation: Not Found" >&2; exit 254; }
    echo "\\"\\\\\\"etag-$(cat "$bucket/$6.generation")\\\\\\"\\""
    ;;
  "s3 cp")
    name=\${3#s3://exports/}
    echo copy >> "$bucket/copies"
    cp "$bucket/$name" "$4"
    echo "download: $3 to ./$4"
    ;;
  *) echo "aws stand-in: $*" >&2; exit 252 ;;
esac
`,
    );
  });

  it('downloads the object on the first call', ({ box }) => {
    bucket.upload('customers.csv', 'id,name\n1,acme\n');
    const r = recipe(box, RECIPE);
    expect(r.stdout.toString()).toBe('download: s3://exports/customers.csv to ./customers.csv\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
  });

  it('replays the download and restores the file while the ETag is unchanged', ({ box }) => {
    bucket.upload('customers.csv', 'id,name\n1,acme\n');
    recipe(box, RECIPE);
    rmSync(box.path('customers.csv'));
    const r = recipe(box, RECIPE);
    expect(r.stdout.toString()).toBe('download: s3://exports/customers.csv to ./customers.csv\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(bucket.copies()).toBe(1);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
  });

  it('downloads again, the same day, once the object is re-uploaded', ({ box }) => {
    bucket.upload('customers.csv', 'id,name\n1,acme\n');
    recipe(box, RECIPE);
    bucket.upload('customers.csv', 'id,name\n1,acme\n2,globex\n');
    const r = recipe(box, RECIPE);
    expect(r.stdout.toString()).toBe('download: s3://exports/customers.csv to ./customers.csv\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(bucket.copies()).toBe(2);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n2,globex\n');
  });
});

describe('the shared Redis cache recipe', () => {
  // export DCACHE_REMOTE=redis://:secret@cache.internal:6379
  // dcache run --no-cwd -o data/raw.csv -- ./fetch-customer-data.sh
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start(['--requirepass', 'secret']);
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    const client = new Redis(server.port, '127.0.0.1', { password: 'secret', lazyConnect: true });
    await client.connect();
    await client.flushall();
    client.disconnect();
  });

  // A machine: its own working directory, cache directory and copy of the
  // fetch script (which says which machine ran it).
  function machine(box: Sandbox, name: string) {
    const home = box.path(name);
    mkdirSync(join(home, 'project'), { recursive: true });
    const fetch = box.counter(
      `${name}/project/fetch-customer-data.sh`,
      `echo "fetched on ${name}"; mkdir -p data && printf 'id,name\\n1,acme\\n' > data/raw.csv`,
    );
    const run = () =>
      recipe(
        box,
        `export DCACHE_REMOTE=${server.url(':secret@')}
dcache run --no-cwd -o data/raw.csv -- ./fetch-customer-data.sh`,
        { cwd: join(home, 'project'), env: { DCACHE_DIR: join(home, 'cache'), DCACHE_NOW: '2024-08-27T09:00:00' } },
      );
    return { project: join(home, 'project'), fetch, run };
  }

  it('runs the fetch on the first machine and says nothing of its own', ({ box }) => {
    const laptop = machine(box, 'laptop');
    const r = laptop.run();
    expect(r.stdout.toString()).toBe('fetched on laptop\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(laptop.fetch.runs()).toBe(1);
  });

  it('replays on a second machine, in another directory, without running its fetch', ({ box }) => {
    const laptop = machine(box, 'laptop');
    const ci = machine(box, 'ci');
    laptop.run();
    const r = ci.run();
    expect(r.stdout.toString()).toBe('fetched on laptop\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(ci.fetch.runs()).toBe(0);
  });

  it('restores data/raw.csv on the second machine', ({ box }) => {
    const laptop = machine(box, 'laptop');
    const ci = machine(box, 'ci');
    laptop.run();
    ci.run();
    expect(readFileSync(join(ci.project, 'data', 'raw.csv'), 'utf8')).toBe('id,name\n1,acme\n');
  });
});
