import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { cloudServers, type TestCloud } from '../support/clouds.js';
import { machine } from '../support/machines.js';
import { plain } from '../support/messages.js';
import type { Running } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import type { GcsStandIn } from '../support/servers/gcs-standin.js';
import { MotoServer } from '../support/servers/moto.js';
import { freePort } from '../support/servers/ports.js';

// A shared cache in a bucket (--remote s3://, az://, gs://), between
// machines that each have a cache directory of their own, against real
// servers: moto_server (S3, checking every signature), Azurite, and the GCS
// stand-in (test/support/servers/gcs-standin.ts), which runs in this
// process: every dcache here runs in the background.

const servers = cloudServers();
const buckets = servers.clouds;
let gcs: GcsStandIn;
beforeAll(() => void ({ gcs } = servers.started()));
// buckets made here on the GCS stand-in
let gcsBuckets = 0;

const dcacheLines = (stderr: string) =>
  plain(stderr)
    .split('\n')
    .filter((l) => l.startsWith('dcache:'));
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
// A lease short enough that the commands here outlive it several times, so
// that its renewals and its takeover are what the tests exercise.
const SHORT_LEASE = { DCACHE_LOCK_LEASE: '2s' };

const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.done));
});

describe.each(buckets)('a shared cache in %s', (_name, bucketOf) => {
  let store: TestCloud;
  let bucket: string;
  let remote: string;
  beforeEach(async () => {
    store = bucketOf();
    bucket = await store.bucket();
    remote = `${store.scheme}://${bucket}/dcache`;
  });
  const on = (box: Sandbox, name: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const started = machine(box, name).start(args, { ...store.env(), ...env });
    running.push(started);
    return started;
  };
  const run = (box: Sandbox, name: string, args: string[], env: NodeJS.ProcessEnv = {}) => on(box, name, args, env).done;

  it('lets machine B replay what machine A recorded: stdout, and a 30 MB -o file, byte for byte', async ({ box }) => {
    writeFileSync(box.path('source.bin'), randomBytes(30 * 1000 * 1000));
    const fetch = box.counter('fetch.sh', `cp '${box.path('source.bin')}' export.bin; echo exported`);
    const args = ['run', '-v', '--remote', remote, '-o', 'export.bin', '--', fetch.path];
    const a = await run(box, 'a', args);
    expect(a.code).toBe(0);
    expect(fetch.runs()).toBe(1);
    writeFileSync(box.path('export.bin'), '');

    const b = await run(box, 'b', args);
    expect(b.code).toBe(0);
    expect(b.stdout.toString()).toBe('exported\n');
    expect(fetch.runs()).toBe(1);
    expect(dcacheLines(b.stderr)[0]).toBe(`dcache: downloading a blob of 29 MiB from ${remote}`);
    expect(dcacheLines(b.stderr)[1]).toMatch(new RegExp(`^dcache: hit on the remote cache ${remote}: `));
    expect(sha256(box.path('export.bin'))).toBe(sha256(box.path('source.bin')));

    const keys = await store.keys(bucket);
    expect(keys.filter((k) => k.startsWith('dcache/entries/'))).toHaveLength(1);
    expect(keys.filter((k) => /^dcache\/blobs\/[0-9a-f]{64}$/.test(k)).length).toBeGreaterThanOrEqual(2);
    expect(keys.filter((k) => k.startsWith('dcache/locks/'))).toEqual([]);
    expect(keys.every((k) => /^dcache\/(entries|blobs)\//.test(k))).toBe(true);
  });

  it('runs a 6-second command once for six machines that start it at once, and all six print its result', async ({ box }) => {
    const slow = box.counter('slow.sh', 'sleep 6; echo "result $(date +%N)"');
    const args = ['run', '-v', '--remote', remote, '--', slow.path];
    const results = await Promise.all(['m1', 'm2', 'm3', 'm4', 'm5', 'm6'].map((name) => run(box, name, args, SHORT_LEASE)));
    expect(slow.runs(), results.map((r) => plain(r.stderr)).join('\n')).toBe(1);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0]);
    const outputs = new Set(results.map((r) => r.stdout.toString()));
    expect(outputs.size).toBe(1);
    expect([...outputs][0]).toMatch(/^result \d+\n$/);
    const waited = results.filter((r) => /dcache: waiting for another machine \(process \d+ on /.test(plain(r.stderr)));
    expect(waited).toHaveLength(5);
    expect((await store.keys(bucket)).filter((k) => k.startsWith('dcache/locks/'))).toEqual([]);
  });

  it('takes over a lease its holder stopped renewing, once, though three machines wait for it', async ({ box }) => {
    const job = box.counter('job.sh', 'echo done');
    const args = ['run', '-v', '--remote', remote, '--', job.path];
    // the key of this command, from an entry recorded elsewhere
    const probe = await machine(box, 'probe').start(['run', '--', job.path]).done;
    expect(probe.code).toBe(0);
    const key = String(
      (JSON.parse((await machine(box, 'probe').start(['ls', '--json']).done).stdout.toString()) as { entries: Array<{ key: string }> }).entries[0]!.key,
    );
    // a lease a frozen machine wrote and never renewed
    await store.put(bucket, `dcache/locks/${key}`, JSON.stringify({ 'dcache-lease': 1, host: 'frozen-host', pid: 4242, id: 'frozen', beat: 0 }));
    const results = await Promise.all(['w1', 'w2', 'w3'].map((name) => run(box, name, args, SHORT_LEASE)));
    // moto_server (threaded) checks If-Match and then writes, without a lock
    // between (moto/s3/responses.py): two takeovers at the same instant can
    // both pass there, which AWS's conditional writes do not allow. Should
    // this fail with 3, the stderr shown says whether that is what happened.
    expect(job.runs(), results.map((r) => plain(r.stderr)).join('\n')).toBe(2);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(results.map((r) => r.stdout.toString())).toEqual(['done\n', 'done\n', 'done\n']);
    const all = results.map((r) => plain(r.stderr)).join('');
    expect(all).toMatch(/dcache: taking the lock over from another machine \(process 4242 on frozen-host\): its lease was not renewed for \d+ s/);
    expect((await store.keys(bucket)).filter((k) => k.startsWith('dcache/locks/'))).toEqual([]);
  });

  it('tells a holder that was stopped for longer than its lease that it lost the lock, and the machine that took it over runs', async ({ box }) => {
    const job = box.counter('job.sh', `while [ ! -f '${box.path('go')}' ]; do sleep 0.05; done; echo ran`);
    const args = ['run', '-v', '--remote', remote, '--', job.path];
    const a = on(box, 'a', args, SHORT_LEASE);
    await a.stderrMatches(/dcache: miss \(no entry\); running /);
    process.kill(a.pid, 'SIGSTOP');
    try {
      const b = on(box, 'b', args, SHORT_LEASE);
      await b.stderrMatches(/dcache: taking the lock over from another machine \(process \d+ on [^)]+\): its lease was not renewed/);
      await b.stderrMatches(/dcache: miss \(no entry\); running /);
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }
    await a.stderrMatches(/dcache: lost the lock of this entry: the lease was taken over by another machine/);
    writeFileSync(box.path('go'), '');
    const [ra, rb] = await Promise.all(running.map((r) => r.done));
    expect([ra!.code, rb!.code]).toEqual([0, 0]);
    expect(job.runs()).toBe(2);
  });

  it('releases the lease when the run is stopped with Ctrl-C', async ({ box }) => {
    // (exec: a shell forking its sleep can miss one SIGINT sent to its group)
    const job = box.counter('job.sh', 'exec sleep 30');
    const a = machine(box, 'a').start(['run', '-v', '--remote', remote, '--', job.path], { ...store.env(), ...SHORT_LEASE });
    running.push(a);
    await a.stderrMatches(/dcache: miss \(no entry\); running /);
    expect((await store.keys(bucket)).filter((k) => k.startsWith('dcache/locks/'))).toHaveLength(1);
    process.kill(a.pid, 'SIGINT');
    const done = await a.done;
    expect({ code: done.code, signal: done.signal, hung: done.timedOut, stderr: done.stderr }).toMatchObject({ code: 130, hung: false });
    expect((await store.keys(bucket)).filter((k) => k.startsWith('dcache/locks/'))).toEqual([]);
  });

  it('removes entries stale for longer than --max-age with gc --remote, and the blobs only they named', async ({ box }) => {
    await store.listings?.(true);
    try {
      const now = Date.now();
      const day = 24 * 60 * 60 * 1000;
      const at = (ms: number) => ({ DCACHE_NOW: new Date(ms).toISOString() });
      await run(box, 'a', ['run', '--remote', remote, '--', 'echo', 'old'], at(now - 40 * day));
      await run(box, 'a', ['run', '--remote', remote, '--', 'echo', 'new'], at(now));
      const before = await store.keys(bucket);
      expect(before.filter((k) => k.startsWith('dcache/entries/'))).toHaveLength(2);

      // blobs younger than a day are kept: a machine may be writing the entry that names them
      const young = await run(box, 'a', ['gc', '--remote', remote, '--max-age', '30d'], at(now));
      expect(young.stdout.toString()).toMatch(/^freed .+ on .*: 1 entry, 0 blobs, 0 leases; kept 1 entry\n$/);

      const later = await run(box, 'a', ['gc', '--remote', remote, '--max-age', '30d'], at(now + 2 * day));
      expect(later.code).toBe(0);
      expect(later.stdout.toString()).toMatch(/^freed .+ on .*: 0 entries, 1 blob, 0 leases; kept 1 entry\n$/);
      const after = await store.keys(bucket);
      expect(after.filter((k) => k.startsWith('dcache/entries/'))).toHaveLength(1);

      const b = await run(box, 'b', ['run', '-v', '--remote', remote, '--', 'echo', 'new'], at(now));
      expect(dcacheLines(b.stderr)[0]).toMatch(/^dcache: hit on the remote cache /);
      const old = await run(box, 'b', ['run', '-v', '--remote', remote, '--', 'echo', 'old'], at(now));
      expect(dcacheLines(old.stderr)[0]).toMatch(/^dcache: miss \(no entry\)/);
    } finally {
      await store.listings?.(false);
    }
  });

  it('goes on without a store that does not answer, with one warning, and records locally', async ({ box }) => {
    const port = await freePort();
    const unreachable: Record<string, string> = {
      s3: 'AWS_ENDPOINT_URL_S3',
      az: 'AZURE_STORAGE_CONNECTION_STRING',
      gs: 'STORAGE_EMULATOR_HOST',
    };
    const env = { ...store.env() };
    const name = unreachable[store.scheme]!;
    env[name] = env[name]!.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
    const job = box.counter('job.sh', 'echo ran; exit 3');
    const ran = await run(box, 'a', ['run', '--remote', remote, '--', job.path], env);
    expect(ran.code).toBe(3);
    expect(ran.stdout.toString()).toBe('ran\n');
    expect(dcacheLines(ran.stderr)).toEqual([expect.stringMatching(new RegExp(`^dcache: the remote cache ${remote} failed \\(.*ECONNREFUSED.*\\); going on without it$`))]);
  });
});

describe('a shared cache in S3 whose server dies mid-run', () => {
  it('leaves the command’s output and exit code alone, warns once, and records locally', async ({ box }) => {
    const own = await MotoServer.start();
    try {
      const bucket = await own.bucket();
      const remote = `s3://${bucket}/dcache`;
      // a failure is recorded (and so shared) with --cache-failures
      const job = box.counter('job.sh', `while [ ! -f '${box.path('go')}' ]; do sleep 0.05; done; echo finished; exit 4`);
      const a = machine(box, 'a').start(['run', '-v', '--cache-failures', '--remote', remote, '--', job.path], { ...own.env(), ...SHORT_LEASE });
      await a.stderrMatches(/dcache: miss \(no entry\); running /);
      own.kill();
      writeFileSync(box.path('go'), '');
      const done = await a.done;
      expect(done.code).toBe(4);
      expect(done.stdout.toString()).toBe('finished\n');
      const warnings = dcacheLines(done.stderr).filter((l) => l.includes('remote cache'));
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`^dcache: the remote cache ${remote} failed \\(.*\\); going on without it$`))]);
      const again = await machine(box, 'a').start(['run', '-v', '--cache-failures', '--', job.path]).done;
      expect(dcacheLines(again.stderr)[0]).toMatch(/^dcache: hit/);
      expect(again.code).toBe(4);
    } finally {
      await own.stop();
    }
  });
});

// Every look at a bucket is a request (and, on a cloud, a charge): a machine
// that waits reads the lease, and the entry only once the lease is gone.
describe('a machine waiting on a bucket (the GCS stand-in)', () => {
  // Machine a runs `sleep <seconds>; echo result` sharing a new bucket, and
  // machine b starts once a has said it runs it.
  const holder = async (box: Sandbox, seconds: number | string, env: NodeJS.ProcessEnv = {}) => {
    const bucket = `wait-${++gcsBuckets}`;
    gcs.buckets.set(bucket, new Map());
    const slow = box.counter('slow.sh', `sleep ${seconds}; echo result`);
    const args = ['run', '-v', '--remote', `gs://${bucket}/dcache`, '--', slow.path];
    const a = machine(box, 'a').start(args, { STORAGE_EMULATOR_HOST: gcs.host, ...env });
    running.push(a);
    await a.stderrMatches(/dcache: miss \(no entry\); running /);
    return { bucket, slow, a, args };
  };
  const holderAndWaiter = async (box: Sandbox, seconds: number, env: NodeJS.ProcessEnv = {}) => {
    const { bucket, slow, a, args } = await holder(box, seconds, env);
    const b = machine(box, 'b').start(args, { STORAGE_EMULATOR_HOST: gcs.host, ...env });
    running.push(b);
    return { bucket, slow, a, b };
  };

  it('reads the entry once the holder lets go, not at every look at the lease', async ({ box }) => {
    const requests: string[] = [];
    gcs.onRequest = (what) => requests.push(decodeURIComponent(what));
    try {
      const { slow, a, b } = await holderAndWaiter(box, 5);
      await b.stderrMatches(/dcache: waiting for another machine/);
      const from = requests.length;
      const [doneA, doneB] = await Promise.all([a.done, b.done]);
      expect(slow.runs()).toBe(1);
      expect(doneB.stdout.toString()).toBe('result\n');
      expect(dcacheLines(doneA.stderr).join('\n')).not.toMatch(/remote cache .* failed/);
      const during = requests.slice(from).filter((r) => r.startsWith('GET '));
      const leaseReads = during.filter((r) => r.includes('/locks/'));
      const entryReads = during.filter((r) => r.includes('/entries/'));
      // b looked at the lease several times in those 5 s (every 0.5 s or
      // more), and at the entry once it was gone: to see that it was there,
      // then to download it
      expect(leaseReads.length).toBeGreaterThanOrEqual(3);
      expect(entryReads.length).toBeLessThanOrEqual(2);
    } finally {
      gcs.onRequest = () => {};
    }
  });

  it('finds the entry of a holder whose lease was left behind, without waiting the lease out or taking it over', async ({ box }) => {
    // the holder's DELETE of its lease fails: the lease stays, unrenewed
    gcs.refuse = (what) => (what.startsWith('DELETE ') && what.includes('/locks/') ? 503 : null);
    try {
      const { bucket, slow, a, b } = await holderAndWaiter(box, 3, SHORT_LEASE);
      const [, doneB] = await Promise.all([a.done, b.done]);
      expect(slow.runs()).toBe(1);
      expect(doneB.stdout.toString()).toBe('result\n');
      expect(plain(doneB.stderr)).toMatch(/dcache: waiting for another machine/);
      expect(plain(doneB.stderr)).not.toMatch(/taking the lock over/);
      expect([...gcs.buckets.get(bucket)!.keys()].filter((k) => k.includes('/locks/'))).toHaveLength(1);
    } finally {
      gcs.refuse = () => null;
    }
  });

  // Machine a holds the lease and is stopped (SIGSTOP), so its lease is no
  // longer renewed; machine c has recorded the same command, quickly, in a
  // bucket of its own. Machine b waits on a's lease, with a 2 s lease and a
  // 0.7 s heartbeat: from 1.4 s without renewal it looks for the entry (at
  // most once a second), at 2 s it takes the lease over. At b's first look
  // (about 1.5 s), `atFirstLook` runs: it may change the bucket then, and
  // c's entry is copied in 50 ms after that look was answered. (On a
  // machine so slow that b's first look comes at 1.8 s or later, it may be
  // the look right before the takeover: then the entry is copied in before
  // that look is answered, and the test shows nothing either way.)
  const waitOnStoppedHolder = async (box: Sandbox, atFirstLook: (bucket: string) => void) => {
    const timers = { ...SHORT_LEASE, DCACHE_LOCK_HEARTBEAT: '0.7s' };
    // (how long the command takes is not part of its key: c's run is quick)
    const { bucket, slow, a, args } = await holder(box, '${SECONDS_TO_SLEEP:-30}', timers);
    const source = `wait-${++gcsBuckets}`;
    gcs.buckets.set(source, new Map());
    const recorded = await machine(box, 'c').start(['run', '--remote', `gs://${source}/dcache`, '--', slow.path], {
      STORAGE_EMULATOR_HOST: gcs.host,
      SECONDS_TO_SLEEP: '0',
    }).done;
    expect(recorded.stdout.toString()).toBe('result\n');
    process.kill(a.pid, 'SIGSTOP');
    const copyEntry = () => {
      for (const [name, object] of gcs.buckets.get(source)!) gcs.buckets.get(bucket)!.set(name, object);
    };
    let firstLeaseRead: number | null = null;
    let looked = false;
    const after: string[] = [];
    gcs.onRequest = (what) => {
      const request = decodeURIComponent(what);
      if (looked) return void after.push(request);
      if (request.startsWith('GET ') && request.includes('/locks/')) firstLeaseRead ??= performance.now();
      // b's first look for the entry since it found the lease
      if (firstLeaseRead === null || !(request.startsWith('GET ') && request.includes('/entries/'))) return;
      looked = true;
      if (performance.now() - firstLeaseRead >= 1800) return copyEntry();
      atFirstLook(bucket);
      setTimeout(copyEntry, 50);
    };
    try {
      const b = machine(box, 'b').start(args, { STORAGE_EMULATOR_HOST: gcs.host, ...timers });
      running.push(b);
      const doneB = await b.done;
      expect(looked).toBe(true);
      expect(doneB.stdout.toString()).toBe('result\n');
      expect(plain(doneB.stderr)).toMatch(/dcache: waiting for another machine/);
      expect(plain(doneB.stderr)).toMatch(/dcache: hit on the remote cache/);
      // a ran it (and was stopped), c ran it; b did not
      expect(slow.runs()).toBe(2);
      return { stderr: plain(doneB.stderr), after };
    } finally {
      gcs.onRequest = () => {};
      process.kill(a.pid, 'SIGCONT');
      process.kill(a.pid, 'SIGKILL');
    }
  };

  it('looks for the entry right before taking a lease over, however recent its last look', async ({ box }) => {
    const { stderr } = await waitOnStoppedHolder(box, () => {});
    expect(stderr).not.toMatch(/taking the lock over/);
  });

  it('looks for the entry as soon as the lease is gone, however recent its last look', async ({ box }) => {
    // the holder lets go (its lease is deleted) as b's first look is answered
    const { stderr, after } = await waitOnStoppedHolder(box, (bucket) => {
      const objects = gcs.buckets.get(bucket)!;
      for (const name of [...objects.keys()]) if (name.includes('/locks/')) objects.delete(name);
    });
    // b did not write a lease of its own: it found the entry first
    expect(after.filter((request) => !request.startsWith('GET '))).toEqual([]);
    expect(stderr).not.toMatch(/taking the lock over/);
  });
});

describe('a misnamed bucket remote', () => {
  it('exits 125 with one line naming the option when the bucket is missing', async ({ box }) => {
    const ran = await machine(box, 'a').start(['run', '--remote', 's3:///dcache', '--', 'true']).done;
    expect(ran.code).toBe(125);
    expect(plain(ran.stderr)).toBe("dcache: --remote 's3:///dcache': name the bucket, as in s3://bucket/prefix\n");
  });

  it('is refused by gc --remote for a kind that cannot be listed, with exit 2', async ({ box }) => {
    const ran = await machine(box, 'a').start(['gc', '--remote', 'redis://127.0.0.1:1']).done;
    expect(ran.code).toBe(2);
    expect(plain(ran.stderr)).toMatch(/^dcache: gc --remote: redis:\/\/127\.0\.0\.1:1 cannot be listed; gc cleans s3:\/\/, gs:\/\/, az:\/\/ and file:\/\/ remotes/);
  });
});
