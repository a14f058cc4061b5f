import { createHash } from 'node:crypto';
import { readdirSync, statSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles, manifests } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';

const at = (now: string) => ({ env: { DCACHE_NOW: now } });

describe('dcache run with the daily policy', () => {
  it('runs on the first call of a day, replays later that day, and runs again the next day', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo "customer,amount"; echo "acme,42"');
    const first = box.dcache(['run', '--policy', 'daily', '--', fetch.path], at('2024-08-27T09:00:00'));
    const second = box.dcache(['run', '--policy', 'daily', '--', fetch.path], at('2024-08-27T15:00:00'));
    expect(fetch.runs()).toBe(1);
    const third = box.dcache(['run', '--policy', 'daily', '--', fetch.path], at('2024-08-28T06:00:00'));
    expect(fetch.runs()).toBe(2);
    for (const r of [first, second, third]) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('customer,amount\nacme,42\n');
      expect(r.stderr).toBe('');
    }
  });

  it('is the default policy', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path], at('2024-08-27T23:59:59'));
    box.dcache(['run', '--', fetch.path], at('2024-08-27T23:59:59'));
    expect(fetch.runs()).toBe(1);
    box.dcache(['run', '--', fetch.path], at('2024-08-28T00:00:00'));
    expect(fetch.runs()).toBe(2);
  });

  it('reads DCACHE_NOW with an offset as an instant, and without one as local time', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    // 21:30 UTC on the 27th is 23:30 in Paris, still the 27th there.
    box.dcache(['run', '--', fetch.path], at('2024-08-27T21:30:00Z'));
    box.dcache(['run', '--', fetch.path], at('2024-08-27T23:45:00'));
    expect(fetch.runs()).toBe(1);
    // 22:00 UTC is midnight in Paris: a new day there.
    box.dcache(['run', '--', fetch.path], at('2024-08-27T22:00:00Z'));
    expect(fetch.runs()).toBe(2);
  });
});

describe('dcache run with ttl and forever', () => {
  it('replays a ttl entry until the duration has passed', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'ttl:90s', '--', fetch.path], at('2024-08-27T10:00:00'));
    box.dcache(['run', '-p', 'ttl:90s', '--', fetch.path], at('2024-08-27T10:01:29'));
    expect(fetch.runs()).toBe(1);
    box.dcache(['run', '-p', 'ttl:90s', '--', fetch.path], at('2024-08-27T10:01:30'));
    expect(fetch.runs()).toBe(2);
  });

  it('requires every given policy to hold', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    const args = ['run', '-p', 'daily', '-p', 'ttl:6h', '--', fetch.path];
    box.dcache(args, at('2024-08-27T09:00:00'));
    box.dcache(args, at('2024-08-27T14:59:00'));
    expect(fetch.runs()).toBe(1);
    box.dcache(args, at('2024-08-27T15:00:00'));
    expect(fetch.runs()).toBe(2);
  });

  it('replays a forever entry years later', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'forever', '--', fetch.path], at('2024-08-27T09:00:00'));
    const later = box.dcache(['run', '-p', 'forever', '--', fetch.path], at('2031-01-01T00:00:00'));
    expect(fetch.runs()).toBe(1);
    expect(later.stdout.toString()).toBe('data\n');
  });
});

describe('replay is byte-exact', () => {
  it('replays binary stdout and stderr with NUL bytes, invalid UTF-8 and no trailing newline', ({ box }) => {
    const script = box.counter('binary.sh', "printf 'a\\000b\\377\\376c'; printf 'e\\000\\200rr' >&2");
    const run = box.dcache(['run', '--', script.path]);
    const hit = box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(1);
    const expectedOut = Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe, 0x63]);
    const expectedErr = Buffer.from([0x65, 0x00, 0x80, 0x72, 0x72]);
    for (const r of [run, hit]) {
      expect(r.code).toBe(0);
      expect(r.stdout.equals(expectedOut)).toBe(true);
    }
    const spawnErr = (file: string) => box.shell(`$DCACHE run -- '${file}' 2>&1 >/dev/null`).stdout;
    expect(spawnErr(script.path).equals(expectedErr)).toBe(true);
  });

  it('replays stdout and stderr interleaved as they were written', ({ box }) => {
    const script = box.counter(
      'interleave.sh',
      'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; sleep 0.1; echo err2 >&2; sleep 0.1; echo out3',
    );
    const run = box.shell(`$DCACHE run -- '${script.path}' 2>&1`);
    const hit = box.shell(`$DCACHE run -- '${script.path}' 2>&1`);
    expect(script.runs()).toBe(1);
    expect(run.stdout.toString()).toBe('out1\nerr1\nout2\nerr2\nout3\n');
    expect(hit.stdout.toString()).toBe('out1\nerr1\nout2\nerr2\nout3\n');
  });

  // Over the 8 MiB a hit verifies before its first byte, so streamed: runs
  // of stdout longer than a replay's 1 MiB chunk, runs between the 64 KiB
  // under which a replay writes at once and that chunk, and short runs of
  // stderr between them.
  it('replays a large interleaved output in its order, runs long and short', ({ box }) => {
    writeFileSync(
      box.path('mixed.js'),
      [
        "const { writeSync } = require('node:fs');",
        'const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);',
        'const block = (size, seed) => Buffer.alloc(size, seed % 251);',
        'for (let i = 0; i < 30; i++) {',
        '  writeSync(1, block(i % 3 === 0 ? 2621440 : 307200, i)); pause();',
        '  writeSync(2, `run ${i} of stderr\\n`); pause();',
        '}',
      ].join('\n'),
    );
    const script = box.counter('mixed.sh', `'${process.execPath}' '${box.path('mixed.js')}'`);
    box.dcache(['run', '--', script.path]);
    const hit = box.shell(`$DCACHE run -- '${script.path}' 2>&1`).stdout;
    // What the entry recorded, put together by hand: its stdout and stderr
    // blobs cut in the runs of its interleaving record. (How the two
    // streams interleaved on the way in depends on which pipe dcache read
    // first; the replay must give back exactly what was recorded.)
    const manifest = JSON.parse(readFileSync(manifests(box.cacheDir)[0]!, 'utf8')) as Record<'stdout' | 'stderr' | 'order', { hash: string }>;
    const blob = (ref: { hash: string }) => readFileSync(join(box.cacheDir, 'blobs', ref.hash.slice(0, 2), ref.hash));
    const streams = { 1: blob(manifest.stdout), 2: blob(manifest.stderr) };
    const at = { 1: 0, 2: 0 };
    const recorded = blob(manifest.order)
      .toString()
      .trimEnd()
      .split('\n')
      .map((line) => {
        const [fd, bytes] = line.split(' ').map(Number) as [1 | 2, number];
        at[fd] += bytes;
        return streams[fd].subarray(at[fd] - bytes, at[fd]);
      });
    expect(hit.equals(Buffer.concat(recorded))).toBe(true);
    expect(hit.length).toBe(10 * 2621440 + 20 * 307200 + Array.from({ length: 30 }, (_, i) => `run ${i} of stderr\n`).join('').length);
    // each stream whole, and the command ran once
    const direct = box.shell(`'${process.execPath}' '${box.path('mixed.js')}' 2>/dev/null | cksum`).stdout.toString();
    expect(box.shell(`$DCACHE run -- '${script.path}' 2>/dev/null | cksum`).stdout.toString()).toBe(direct);
    const stderrOnly = box.shell(`$DCACHE run -- '${script.path}' 2>&1 >/dev/null`).stdout.toString();
    expect(stderrOnly).toBe(Array.from({ length: 30 }, (_, i) => `run ${i} of stderr\n`).join(''));
    expect(script.runs()).toBe(1);
  });

  it('replays an empty output as empty', ({ box }) => {
    const script = box.counter('silent.sh', 'true');
    box.dcache(['run', '--', script.path]);
    const hit = box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(hit.stdout.length).toBe(0);
    expect(hit.stderr).toBe('');
  });
});

describe('exit codes', () => {
  it('passes a failing exit code through and does not record the failure', ({ box }) => {
    const script = box.counter('fail.sh', 'echo partial; exit 3');
    const first = box.dcache(['run', '--', script.path]);
    const second = box.dcache(['run', '--', script.path]);
    expect([first.code, second.code]).toEqual([3, 3]);
    expect(second.stdout.toString()).toBe('partial\n');
    expect(script.runs()).toBe(2);
  });

  it('records and replays a failure with --cache-failures', ({ box }) => {
    const script = box.counter('fail.sh', 'echo partial; echo oops >&2; exit 3');
    box.dcache(['run', '--cache-failures', '--', script.path]);
    const hit = box.dcache(['run', '--cache-failures', '--', script.path]);
    expect(script.runs()).toBe(1);
    expect(hit.code).toBe(3);
    expect(hit.stdout.toString()).toBe('partial\n');
    expect(hit.stderr).toBe('oops\n');
  });

  it('runs and records again with --force', ({ box }) => {
    const script = box.counter('fetch.sh', 'date +%N');
    const first = box.dcache(['run', '--', script.path]);
    const forced = box.dcache(['run', '--force', '--', script.path]);
    const hit = box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(2);
    expect(hit.stdout.equals(forced.stdout)).toBe(true);
    expect(forced.stdout.equals(first.stdout)).toBe(false);
  });

  it('exits 128+N when the command is killed by signal N, and records nothing', ({ box }) => {
    const script = box.counter('killed.sh', 'echo before; kill -TERM $$');
    const first = box.dcache(['run', '--', script.path]);
    expect(first.code).toBe(128 + 15);
    box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(2);
  });

  it('exits 127 when the command is not found', ({ box }) => {
    const r = box.dcache(['run', '--', 'no-such-command-dcache']);
    expect(r.code).toBe(127);
    expect(plain(r.stderr)).toBe('dcache: no-such-command-dcache: command not found\n');
  });

  it('exits 126 when the command cannot be executed', ({ box }) => {
    writeFileSync(box.path('not-executable.sh'), 'echo hi\n', { mode: 0o644 });
    const r = box.dcache(['run', '--', './not-executable.sh']);
    expect(r.code).toBe(126);
    expect(plain(r.stderr)).toMatch(/^dcache: \.\/not-executable\.sh: cannot execute/);
  });
});

// A shell can be left in a directory that another removed.
describe('a working directory that no longer exists', () => {
  it('gets one line naming it, 125 from run and 2 from the other commands, and no run', ({ box }) => {
    const inRemoved = (args: string) => box.shell(`mkdir gone && cd gone && rmdir ../gone && $DCACHE ${args}; echo "exit $?"`);
    const line = 'dcache: the working directory no longer exists (it was removed or renamed); cd to one that does\n';
    const run = inRemoved(`run -- sh -c 'echo ran'`);
    expect(plain(run.stderr)).toBe(line);
    expect(run.stdout.toString()).toBe('exit 125\n');
    const listed = inRemoved('ls');
    expect(plain(listed.stderr)).toBe(line);
    expect(listed.stdout.toString()).toBe('exit 2\n');
  });
});

describe('bad input', () => {
  const cases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['an unknown policy', ['run', '--policy', 'bogus', '--', 'true'], {}, /'bogus' is not a policy; use daily, daily@HH:MM \(e\.g\. daily@06:00\), hourly, weekly, monthly, cron:<expr>/],
    ['a ttl without a unit', ['run', '-p', 'ttl:30', '--', 'true'], {}, /'30' is not a duration; use a number and a unit/],
    ['a negative ttl', ['run', '-p', 'ttl:-1h', '--', 'true'], {}, /'-1h' is not a duration/],
    ['an empty --dir', ['run', '--dir', '', '--', 'true'], {}, /--dir '' is empty/],
    ['an unknown option', ['run', '--bogus', '--', 'true'], {}, /unknown option '--bogus'/],
    ['a missing command', ['run', '--'], {}, /missing required argument 'command'/],
    ['a garbled DCACHE_NOW', ['run', '--', 'true'], { DCACHE_NOW: 'yesterday' }, /DCACHE_NOW: 'yesterday' is not an ISO-8601 date-time/],
    ['an impossible DCACHE_NOW', ['run', '--', 'true'], { DCACHE_NOW: '2024-02-30T10:00:00' }, /'2024-02-30T10:00:00' is not a valid date-time/],
    ['--verbose with --quiet', ['run', '-v', '-q', '--', 'true'], {}, /cannot be used with option '-q, --quiet'/],
  ];
  for (const [what, args, env, message] of cases) {
    it(`exits 125 with one line naming ${what}`, ({ box }) => {
      const r = box.dcache(args, { env });
      expect(r.code).toBe(125);
      const lines = plain(r.stderr).trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^dcache: /);
      expect(lines[0]).toMatch(message);
      expect(r.stdout.length).toBe(0);
    });
  }

  it('does not run the command when an option is bad', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '-p', 'weekly-ish', '--', script.path]);
    expect(script.runs()).toBe(0);
  });
});

describe('the cache never breaks the command', () => {
  it('runs the command and passes its exit code through when the cache directory cannot be created', ({ box }) => {
    writeFileSync(box.path('a-file'), '');
    const script = box.counter('fetch.sh', 'echo data; exit 4');
    const env = { DCACHE_DIR: box.path('a-file', 'cache') };
    const r = box.dcache(['run', '--', script.path], { env });
    expect(r.code).toBe(4);
    expect(r.stdout.toString()).toBe('data\n');
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^dcache: cannot use the cache directory .*a-file\/cache \(ENOTDIR/);
  });

  it('still says once, with --quiet, that the cache cannot be used', ({ box }) => {
    writeFileSync(box.path('a-file'), '');
    const script = box.counter('fetch.sh', 'echo data');
    const r = box.dcache(['run', '-q', '--', script.path], { env: { DCACHE_DIR: box.path('a-file', 'cache') } });
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toMatch(/^dcache: cannot use the cache directory .*a-file\/cache \(ENOTDIR[^\n]*\n$/);
  });

  it('treats a truncated blob as a miss, warns once and runs the command', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo some data worth caching');
    box.dcache(['run', '--', script.path]);
    for (const blob of listFiles(join(box.cacheDir, 'blobs'))) writeFileSync(blob, 'some');
    const r = box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('some data worth caching\n');
    expect(plain(r.stderr)).toMatch(/^dcache: dropped a bad cache entry \(blob [0-9a-f]{16} has 4 B, not 24 B\); running the command\n$/);
    box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(2);
  });

  it('treats an altered blob of the same size as a miss before writing a byte', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo some data worth caching');
    box.dcache(['run', '--', script.path]);
    for (const blob of listFiles(join(box.cacheDir, 'blobs'))) writeFileSync(blob, 'SOME DATA WORTH CACHING\n');
    const r = box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('some data worth caching\n');
    expect(plain(r.stderr)).toMatch(/does not match its hash/);
  });

  it('treats a garbled manifest as a miss', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', script.path]);
    for (const manifest of listFiles(join(box.cacheDir, 'entries'))) writeFileSync(manifest, '{"format": 1, "key": ');
    const r = box.dcache(['run', '--', script.path]);
    expect(script.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('data\n');
    expect(plain(r.stderr)).toMatch(/^dcache: dropped a bad cache entry \(garbled manifest\)/);
  });
});

describe('the cache directory', () => {
  it('is created 0700 with files 0600', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data; echo err >&2');
    box.shell(`umask 000; $DCACHE run -- '${script.path}'`);
    expect(statSync(box.cacheDir).mode & 0o777).toBe(0o700);
    const files = listFiles(box.cacheDir);
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is tagged when dcache creates it: a CACHEDIR.TAG that backup tools know, and a .gitignore that ignores it all', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'data']);
    expect(readFileSync(join(box.cacheDir, 'CACHEDIR.TAG'), 'utf8')).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n# /);
    expect(readFileSync(join(box.cacheDir, '.gitignore'), 'utf8').split('\n').filter((line) => !line.startsWith('#'))).toEqual(['*', '']);
  });

  it('is not tagged when it existed before (--dir may name a directory of the user’s own)', ({ box }) => {
    mkdirSync(box.path('mine'), { mode: 0o700 });
    box.dcache(['run', '--dir', 'mine', '--', 'echo', 'data']);
    expect(readdirSync(box.path('mine')).sort()).toEqual(['activity', 'blobs', 'entries', 'gc-stamp', 'locks', 'tmp']);
  });

  it('is taken from --dir over DCACHE_DIR', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--dir', 'elsewhere', '--', script.path]);
    expect(listFiles(box.path('elsewhere')).length).toBeGreaterThan(0);
    box.dcache(['run', '--dir', 'elsewhere', '--', script.path]);
    expect(script.runs()).toBe(1);
  });

  it('keys entries by working directory', ({ box }) => {
    const script = box.counter('fetch.sh', 'pwd');
    mkdirSync(box.path('a'));
    mkdirSync(box.path('b'));
    const a = box.dcache(['run', '--', script.path], { cwd: box.path('a') });
    const b = box.dcache(['run', '--', script.path], { cwd: box.path('b') });
    expect(script.runs()).toBe(2);
    expect(a.stdout.toString()).not.toBe(b.stdout.toString());
  });
});

describe('--verbose and --quiet', () => {
  it('says miss, then hit with the age and the expiry', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data');
    const miss = box.dcache(['run', '-v', '--', script.path], at('2024-08-27T09:00:00'));
    const hit = box.dcache(['run', '-v', '--', script.path], at('2024-08-27T15:30:00'));
    expect(plain(miss.stderr)).toMatch(/^dcache: miss \(no entry\); running .*fetch\.sh\n/);
    expect(plain(hit.stderr)).toBe(
      'dcache: hit: recorded 6h30m ago (2024-08-27 09:00:00 +02:00), fresh until 2024-08-28 00:00:00 +02:00 (daily)\n',
    );
  });

  it('says why a stale entry missed', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', script.path], at('2024-08-27T09:00:00'));
    const miss = box.dcache(['run', '-v', '--', script.path], at('2024-08-28T09:00:00'));
    expect(plain(miss.stderr)).toMatch(/^dcache: miss \(stale since 2024-08-28 00:00:00 \+02:00, daily\)/);
  });

  it('prints nothing of its own by default', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data');
    expect(box.dcache(['run', '--', script.path]).stderr).toBe('');
    expect(box.dcache(['run', '--', script.path]).stderr).toBe('');
  });
});

describe('large outputs', () => {
  it('records and replays 200 MB with peak memory under 100 MB', ({ box }) => {
    const size = 200 * 1024 * 1024;
    const data = box.path('big.bin');
    // A repeating but non-trivial pattern, so a byte out of place shows in the checksum.
    const block = Buffer.alloc(1 << 20);
    for (let i = 0; i < block.length; i++) block[i] = (i * 7 + (i >> 11)) & 0xff;
    const chunks = Array.from({ length: size / block.length }, (_, n) => {
      const b = Buffer.from(block);
      b.writeUInt32BE(n, 0);
      return b;
    });
    writeFileSync(data, Buffer.concat(chunks));
    const expected = box.shell(`cksum < '${data}'`).stdout.toString().trim();
    const measure = (label: string) => {
      const r = box.shell(`/usr/bin/time -f %M -o '${label}.rss' $DCACHE run -- cat '${data}' | cksum`);
      expect(r.code).toBe(0);
      return { sum: r.stdout.toString().trim(), kib: Number(readFileSync(box.path(`${label}.rss`), 'utf8').trim().split('\n').pop()) };
    };
    const record = measure('record');
    const replay = measure('replay');
    expect(record.sum).toBe(expected);
    expect(replay.sum).toBe(expected);
    expect(record.kib).toBeLessThan(100 * 1024);
    expect(replay.kib).toBeLessThan(100 * 1024);
    const blobBytes = listFiles(join(box.cacheDir, 'blobs')).reduce((n, f) => n + statSync(f).size, 0);
    expect(blobBytes).toBe(size);
  });
});

describe('an output past 16 MiB, hashed on a thread of its own', () => {
  it('is named by the SHA-256 of its bytes, and the next call replays it as a hit', ({ box }) => {
    const data = box.path('40m.bin');
    writeFileSync(data, Buffer.concat(Array.from({ length: 40 }, (_, n) => Buffer.alloc(1 << 20, (n * 13) & 0xff))));
    const script = box.counter('print.sh', `cat '${data}'`);
    const expected = createHash('sha256').update(readFileSync(data)).digest('hex');
    expect(box.dcache(['run', '--', script.path]).stdout.equals(readFileSync(data))).toBe(true);
    expect(listFiles(join(box.cacheDir, 'blobs')).map((f) => f.split('/').pop())).toEqual([expected]);
    expect(box.dcache(['run', '--', script.path]).stdout.equals(readFileSync(data))).toBe(true);
    expect(script.runs()).toBe(1);
  });
});

describe('command lines that commander reads', () => {
  it('treats bundled short flags like separate ones', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', script.path]);
    const r = box.dcache(['run', '-vf', '--', script.path]);
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toMatch(/^dcache: miss \(--force\); running /);
    const hit = box.dcache(['run', '-qp', 'ttl:1h', script.path]);
    expect(script.runs()).toBe(2);
    expect(hit.stdout.toString()).toBe('data\n');
  });

  it('prints run --help on stdout and exits 0', ({ box }) => {
    const r = box.dcache(['run', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--policy <spec>', '--output <path>', '--env <name>', '--stdin', '--no-cwd', '--key <text>', '--shell', '--force', '--cache-failures', '--dir <path>', '--verbose', '--quiet']) {
      expect(r.stdout.toString()).toContain(flag);
    }
  });
});

describe('a reader that closes the pipe early', () => {
  it('lets a miss finish, quietly, records its whole output, and exits with its code', ({ box }) => {
    const r = box.shell(`bash -c '$DCACHE run -- seq 1 3000000 | head -1; echo "status \${PIPESTATUS[0]}"'`);
    expect(r.stdout.toString()).toBe('1\nstatus 0\n');
    expect(r.stderr).toBe('');
    expect(listFiles(box.cacheDir).filter((f) => f.includes('/entries/'))).toHaveLength(1);
  });

  it('stops a hit quietly with the recorded exit code', ({ box }) => {
    box.dcache(['run', '--', 'seq', '1', '3000000']);
    const r = box.shell(`bash -c '$DCACHE run -- seq 1 3000000 | head -1; echo "status \${PIPESTATUS[0]}"'`);
    expect(r.stdout.toString()).toBe('1\nstatus 0\n');
    expect(r.stderr).toBe('');
  });
});
