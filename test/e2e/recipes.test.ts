import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { blockAfter, readDoc } from '../support/docs.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { BIN, type Result, type Sandbox } from '../support/sandbox.js';
import { MotoServer } from '../support/servers/moto.js';
import { RedisServer } from '../support/servers/redis.js';

// The recipes of the README (and of docs/remote-cache.md), the dcache part
// of each read from the page and run as written, through /bin/sh, with
// `dcache` found on PATH; and two probes of cloud CLIs (gsutil, aws), for
// which a stand-in script of that name comes first on PATH. The Makefile
// recipe is tried in makefile.test.ts.

const README = readDoc('README.md');

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
  // The job's line after its five time fields:
  //   cd /srv/reports && dcache run -q --stale-if-error -o raw/customers.csv -- ./fetch-customers.sh
  const job = blockAfter(README, '### cron')
    .find((line) => /^[\d*]/.test(line))!
    .replace(/^(\S+\s+){5}/, '');
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
    const r = spawnSync('/bin/sh', ['-c', job.replace('/srv/reports', reports)], {
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
  // the cell's command, without its `!`: dcache run -o raw.parquet -- python fetch.py
  const cell = blockAfter(README, '### A notebook cell')[0]!.replace(/^!/, '');
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
    const r = recipe(box, cell);
    expect(r.stdout.toString()).toBe('fetched 264 bytes\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(box.path('raw.parquet'))).toEqual(PARQUET);
  });

  it('brings raw.parquet back after a restart without running fetch.py again', ({ box }) => {
    recipe(box, cell);
    rmSync(box.path('raw.parquet'));
    const r = recipe(box, cell);
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

describe('a gsutil stat probe of an object in Google Cloud Storage', () => {
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

describe('an aws s3api head-object probe of an object in S3', () => {
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

describe('the recipe of a file in S3', () => {
  // The README's command of the recipe that runs your own download, up to
  // the blank line:
  //   dcache run -p forever -w s3://exports/acme/customers.csv -o customers.csv -- \
  //     aws s3 cp s3://exports/acme/customers.csv customers.csv
  // dcache watches the object on moto_server; the stand-in aws CLI copies
  // it from a mirror of the bucket on disk, and counts its copies.
  const lines = blockAfter(README, 'To run your own download command instead');
  const end = lines.indexOf('');
  const written = (end === -1 ? lines : lines.slice(0, end)).join('\n');
  let moto: MotoServer;
  let bucket: string;
  beforeAll(async () => {
    moto = await MotoServer.start();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  beforeEach(async ({ box }) => {
    bucket = await moto.bucket();
    mkdirSync(box.path('mirror', bucket, 'acme'), { recursive: true });
    executable(
      join(bin(box), 'aws'),
      `#!/bin/sh
[ "$1 $2" = "s3 cp" ] || { echo "aws stand-in: $*" >&2; exit 252; }
echo copy >> '${box.path('copies')}'
cp "${box.path('mirror')}/\${3#s3://}" "$4"
`,
    );
  });
  const upload = async (box: Sandbox, body: string) => {
    await moto.put(bucket, 'acme/customers.csv', body);
    writeFileSync(box.path('mirror', bucket, 'acme', 'customers.csv'), body);
  };
  const run = (box: Sandbox) => recipe(box, written.replaceAll('s3://exports/', `s3://${bucket}/`), { env: moto.env() });
  const copies = (box: Sandbox) => readFileSync(box.path('copies'), 'utf8').split('\n').filter(Boolean).length;

  it('copies the object on the first call', async ({ box }) => {
    await upload(box, 'id,name\n1,acme\n');
    const r = run(box);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
  });

  it('restores the file without copying again while the object is unchanged', async ({ box }) => {
    await upload(box, 'id,name\n1,acme\n');
    run(box);
    rmSync(box.path('customers.csv'));
    const r = run(box);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(copies(box)).toBe(1);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
  });

  it('copies again, the same day, once the object is uploaded again', async ({ box }) => {
    await upload(box, 'id,name\n1,acme\n');
    run(box);
    await upload(box, 'id,name\n1,acme\n2,globex\n');
    const r = run(box);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(copies(box)).toBe(2);
    expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n2,globex\n');
  });

  describe('with dcache fetch', () => {
    // The README's first line of the recipe:
    //   dcache fetch s3://exports/acme/customers.csv -o customers.csv
    const line = blockAfter(README, '### A file or a folder in S3, Google Cloud Storage or Azure')[0]!;
    // (moto_server, and a new bucket each test, from the describe around it)
    const run = (box: Sandbox) => recipe(box, line.replaceAll('s3://exports/', `s3://${bucket}/`), { env: moto.env() });

    it('downloads the object, restores it once deleted, and downloads it again once it is uploaded again', async ({ box }) => {
      expect(line).toMatch(/^dcache fetch s3:\/\/exports\/acme\/customers\.csv -o customers\.csv$/);
      await moto.put(bucket, 'acme/customers.csv', 'id,name\n1,acme\n');
      const first = run(box);
      expect([first.code, first.stderr]).toEqual([0, '']);
      expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
      rmSync(box.path('customers.csv'));
      expect(run(box).code).toBe(0);
      expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n');
      await moto.put(bucket, 'acme/customers.csv', 'id,name\n1,acme\n2,globex\n');
      const again = run(box);
      expect([again.code, again.stderr]).toEqual([0, '']);
      expect(readFileSync(box.path('customers.csv'), 'utf8')).toBe('id,name\n1,acme\n2,globex\n');
    });
  });
});

describe('the shared Redis cache recipe', () => {
  // DCACHE_REMOTE as docs/remote-cache.md sets it for Redis, and the
  // README's command of a team cache:
  //   export DCACHE_REMOTE=redis://:secret@cache.internal:6379
  //   dcache run --no-cwd -o data/raw.csv -- ./fetch-customer-data.sh
  const exported = blockAfter(readDoc('docs/remote-cache.md'), '## On Redis').find((line) => line.startsWith('export DCACHE_REMOTE='))!;
  const command = blockAfter(README, '### A shared cache for a team').find((line) => line.startsWith('dcache run '))!;
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
        `${exported.replace('redis://:secret@cache.internal:6379', server.url(':secret@'))}\n${command}`,
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
