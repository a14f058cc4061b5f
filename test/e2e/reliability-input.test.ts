import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, relative } from 'node:path';
import { listFiles, listModes, manifests } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { CRASH, plain } from '../support/messages.js';
import { readPid } from '../support/processes.js';
import { startDcache, startShell } from '../support/running.js';
import type { Result, Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// Hostile and bad input: malformed option values, a cache directory that is
// not private, and secrets that must never be written down or shown.

// --- malformed values ---

// An argument given as raw bytes: Node would decode a Buffer argument as
// UTF-8 before exec, so bytes that are not UTF-8 go through printf in /bin/sh.
const raw = (...bytes: number[]) => Buffer.from(bytes);
const utf8 = (text: string) => Buffer.from(text, 'utf8');

function dcacheWithBytes(box: Sandbox, args: Array<string | Buffer>, env: NodeJS.ProcessEnv): Result {
  if (args.every((a) => typeof a === 'string')) return box.dcache(args as string[], { env });
  const quoted = args.map((a) => {
    const bytes = typeof a === 'string' ? utf8(a) : a;
    const octal = [...bytes].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
    return `"$(printf '${octal}')"`;
  });
  return box.shell(`$DCACHE ${quoted.join(' ')}`, { env });
}

// [what, arguments, environment, exit code, text the message must contain]
const badInputs: Array<[string, Array<string | Buffer>, NodeJS.ProcessEnv, number, string]> = [
  ['an empty --policy', ['run', '--policy', '', '--', 'true'], {}, 125, "--policy ''"],
  ['an empty ttl', ['run', '-p', 'ttl:', '--', 'true'], {}, 125, "--policy 'ttl:'"],
  ['a ttl of 99999999999999 days', ['run', '-p', 'ttl:99999999999999d', '--', 'true'], {}, 125, "'99999999999999d' is longer than the longest duration"],
  ['a ttl with two decimal points', ['run', '-p', 'ttl:1.5.5h', '--', 'true'], {}, 125, "'1.5.5h' is not a duration"],
  ['a zero ttl', ['run', '-p', 'ttl:0s', '--', 'true'], {}, 125, "'0s' is not a positive duration"],
  ['a ttl in exponent notation', ['run', '-p', 'ttl:1e3s', '--', 'true'], {}, 125, "'1e3s' is not a duration"],
  ['a ttl of Infinity days', ['run', '-p', 'ttl:Infinityd', '--', 'true'], {}, 125, "'Infinityd' is not a duration"],
  ['daily@25:00', ['run', '-p', 'daily@25:00', '--', 'true'], {}, 125, "'25:00' is not a time of day"],
  ['daily@ with no time', ['run', '-p', 'daily@', '--', 'true'], {}, 125, "--policy 'daily@'"],
  ['a cron expression of three fields', ['run', '-p', 'cron:* * *', '--', 'true'], {}, 125, "--policy 'cron:* * *': a cron expression has 5 fields"],
  ['a cron minute of 61', ['run', '-p', 'cron:61 * * * *', '--', 'true'], {}, 125, "--policy 'cron:61 * * * *'"],
  ['a cron date that never comes', ['run', '-p', 'cron:0 0 31 2 *', '--', 'true'], {}, 125, "--policy 'cron:0 0 31 2 *': the cron expression never fires"],
  ['an empty cron expression', ['run', '-p', 'cron:', '--', 'true'], {}, 125, "--policy 'cron:'"],
  ['a cron @reboot', ['run', '-p', 'cron:@reboot', '--', 'true'], {}, 125, "--policy 'cron:@reboot'"],
  ['a misspelt policy', ['run', '-p', 'hourlyy', '--', 'true'], {}, 125, "--policy 'hourlyy' is not a policy"],
  ['an unknown zone', ['run', '--tz', 'Mars/Olympus', '--', 'true'], {}, 125, "--tz 'Mars/Olympus' is not a time zone"],
  ['an empty zone', ['run', '--tz', '', '--', 'true'], {}, 125, "--tz '' is not a time zone"],
  ['a zone that is a path', ['run', '--tz', '../../etc/passwd', '--', 'true'], {}, 125, "--tz '../../etc/passwd' is not a time zone"],
  ['an offset as a zone', ['run', '--tz', '+25:00', '--', 'true'], {}, 125, "--tz '+25:00' is not a time zone"],
  ['an empty --watch', ['run', '-w', '', '--', 'true'], {}, 125, "--watch '' is empty"],
  ['an ftp:// URL to watch', ['run', '-w', 'ftp://example.com/x', '--', 'true'], {}, 125, "--watch 'ftp://example.com/x': the URLs that can be watched are http(s)://, s3://, gs:// and az://"],
  ['a URL with no host', ['run', '-w', 'http://', '--', 'true'], {}, 125, "--watch 'http://' is not a valid URL; watch one such as https://example.com/export.csv"],
  ['an s3:// URL with no bucket', ['run', '-w', 's3://', '--', 'true'], {}, 125, "--watch 's3://' names no bucket; watch an object (s3://bucket/key), a prefix (s3://bucket/prefix/) or a glob over keys (s3://bucket/prefix/*.csv)"],
  ['a gs:// URL with no bucket', ['run', '-w', 'gs:///exports/x.csv', '--', 'true'], {}, 125, "--watch 'gs:///exports/x.csv' names no bucket; watch an object (gs://bucket/key), a prefix"],
  ['an az:// URL with no container', ['run', '-w', 'az://', '--', 'true'], {}, 125, "--watch 'az://' names no container; watch an object (az://container/key), a prefix"],
  ['an s3: URL with one slash', ['run', '-w', 's3:/exports/x.csv', '--', 'true'], {}, 125, "--watch 's3:/exports/x.csv' lacks the two slashes of s3://; watch an object (s3://bucket/key)"],
  ['a URL with a space in the host', ['run', '-w', 'http://exa mple.com/', '--', 'true'], {}, 125, "--watch 'http://exa mple.com/' is not a valid URL"],
  ['a URL with port 99999', ['run', '-w', 'http://example.com:99999/', '--', 'true'], {}, 125, "--watch 'http://example.com:99999/' is not a valid URL"],
  ['an empty --watch-cmd', ['run', '--watch-cmd', '', '--', 'true'], {}, 125, "--watch-cmd '' is empty"],
  ['an empty --watch-timeout', ['run', '--watch-timeout', '', '--', 'true'], {}, 125, "--watch-timeout '' is not a duration"],
  ['a --watch-timeout of two hours', ['run', '--watch-timeout', '2h', '--', 'true'], {}, 125, "--watch-timeout '2h' is longer than"],
  ['an empty --env', ['run', '-e', '', '--', 'true'], {}, 125, "--env '' is not a variable name"],
  ['an --env with an =', ['run', '-e', 'A=B', '--', 'true'], {}, 125, "--env 'A=B' is not a variable name"],
  ['an empty --output', ['run', '-o', '', '--', 'true'], {}, 125, "--output '' is empty"],
  ['an --output outside the working directory', ['run', '-o', '../x', '--', 'true'], {}, 125, "--output '../x' is not inside the working directory"],
  ['an absolute --output', ['run', '-o', '/etc/passwd', '--', 'true'], {}, 125, "--output '/etc/passwd' is not inside"],
  ['the working directory as --output', ['run', '-o', '.', '--', 'true'], {}, 125, "--output '.' is not inside"],
  ['an empty --key', ['run', '--key', '', '--', 'true'], {}, 125, "--key '' is empty"],
  ['a --dir of blanks', ['run', '--dir', '  ', '--', 'true'], {}, 125, "--dir '  ' is empty"],
  ['a month 13 in DCACHE_NOW', ['run', '--', 'true'], { DCACHE_NOW: '2024-13-01T00:00:00' }, 125, "'2024-13-01T00:00:00' is not a valid date-time"],
  ['a policy of a non-UTF-8 byte', ['run', raw(0x2d, 0x2d, 0x70, 0x6f, 0x6c, 0x69, 0x63, 0x79, 0x3d, 0xff), '--', 'true'], {}, 125, "argument 2 ($'--policy=\\xff') is not valid UTF-8"],
  ['a ttl with a non-UTF-8 byte', ['run', '-p', Buffer.concat([utf8('ttl:1'), raw(0xff), utf8('h')]), '--', 'true'], {}, 125, "argument 3 ($'ttl:1\\xffh') is not valid UTF-8"],
  ['a zone with a non-UTF-8 byte', ['run', '--tz', Buffer.concat([utf8('Europe/'), raw(0xc3)]), '--', 'true'], {}, 125, "argument 3 ($'Europe/\\xc3') is not valid UTF-8"],
  ['an --env name with a non-UTF-8 byte', ['run', '-e', Buffer.concat([utf8('A'), raw(0xfe)]), '--', 'true'], {}, 125, "argument 3 ($'A\\xfe') is not valid UTF-8"],
  ['an empty gc --max-size', ['gc', '--max-size', ''], {}, 2, "--max-size '' is not a size"],
  ['a gc --max-size in an unknown unit', ['gc', '--max-size', '10X'], {}, 2, "--max-size '10X' is not a size"],
  ['a huge gc --max-size', ['gc', '--max-size', '99999999999T'], {}, 2, "--max-size '99999999999T' is too large a size"],
  ['a negative gc --max-size', ['gc', '--max-size', '-5M'], {}, 2, "--max-size '-5M' is not a size"],
  ['a gc --max-size with a non-UTF-8 byte', ['gc', '--max-size', Buffer.concat([utf8('5'), raw(0xff), utf8('M')])], {}, 2, "argument 3 ($'5\\xffM') is not valid UTF-8"],
  ['a gc --max-age without a unit', ['gc', '--max-age', '10'], {}, 2, "--max-age '10' is not a duration"],
  ['a gc --max-age of 99999999999999 days', ['gc', '--max-age', '99999999999999d'], {}, 2, "--max-age '99999999999999d' is longer than"],
  ['an empty gc --dir', ['gc', '--dir', ''], {}, 2, "--dir '' is empty"],
  ['a status policy that does not exist', ['status', '-p', 'bogus', '--', 'true'], {}, 2, "--policy 'bogus' is not a policy"],
  ['a status zone that does not exist', ['status', '--tz', 'Nowhere/Land', '--', 'true'], {}, 2, "--tz 'Nowhere/Land' is not a time zone"],
  ['a status ttl of 99999999999999 days', ['status', '-p', 'ttl:99999999999999d', '--', 'true'], {}, 2, "'99999999999999d' is longer than"],
  ['a status --watch of ftp://', ['status', '-w', 'ftp://x/y', '--', 'true'], {}, 2, "--watch 'ftp://x/y'"],
  ['a status policy with a non-UTF-8 byte', ['status', raw(0x2d, 0x70), raw(0xff), '--', 'true'], {}, 2, "argument 3 ($'\\xff') is not valid UTF-8"],
  ['a clear --older-than without a unit', ['clear', '--older-than', '5'], {}, 2, "--older-than '5' is not a duration"],
  ['a key prefix that is not hexadecimal', ['clear', 'zzzz'], {}, 2, "'zzzz' is not a key prefix"],
  ['an empty show key prefix', ['show', ''], {}, 2, "'' is not a key prefix"],
  ['a DCACHE_NOW of month 13 for ls', ['ls'], { DCACHE_NOW: '2024-13-01T00:00:00' }, 2, "'2024-13-01T00:00:00' is not a valid date-time"],
];

describe('malformed input', () => {
  it('has at least thirty cases', ({ box }) => {
    expect(badInputs.length).toBeGreaterThanOrEqual(30);
  });

  for (const [what, args, env, code, named] of badInputs) {
    it(`exits ${code} with one line naming the value: ${what}`, ({ box }) => {
      const r = dcacheWithBytes(box, args, env);
      expect(r.code).toBe(code);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).not.toMatch(CRASH);
      const lines = plain(r.stderr).trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^dcache: /);
      expect(lines[0]).toContain(named);
    });
  }
});

// --- a private cache directory ---

describe('the cache directory under umask 000', () => {
  it('keeps every directory 0700 and every file 0600 after a recording with output files and a hit', ({ box }) => {
    const command = box.counter('files.sh', 'mkdir -p reports; echo a > reports/a.csv; echo b > single.txt; echo out; echo err >&2');
    const args = `run -o reports -o single.txt -- '${command.path}'`;
    box.shell(`umask 000; $DCACHE ${args}`, { env: { DCACHE_NOW: '2024-08-27T09:00:00' } });
    box.shell(`umask 000; $DCACHE ${args}`, { env: { DCACHE_NOW: '2024-08-27T10:00:00' } });
    expect(command.runs()).toBe(1);
    const modes = listModes(box.cacheDir);
    expect(modes.filter((m) => !m.dir).map((m) => relative(box.cacheDir, m.path).split('/')[0])).toEqual(
      expect.arrayContaining(['activity', 'blobs', 'entries', 'gc-stamp']),
    );
    for (const m of modes) expect({ path: m.path, mode: m.mode.toString(8) }).toEqual({ path: m.path, mode: m.dir ? '700' : '600' });
  });

  it('keeps the activity summary that gc writes 0600', ({ box }) => {
    const command = box.counter('fetch.sh', 'echo data');
    box.shell(`umask 000; $DCACHE run -- '${command.path}'`, { env: { DCACHE_NOW: '2024-08-27T09:00:00' } });
    box.shell(`umask 000; $DCACHE run -- '${command.path}'`, { env: { DCACHE_NOW: '2024-08-27T10:00:00' } });
    box.shell('umask 000; $DCACHE gc', { env: { DCACHE_NOW: '2024-08-29T10:00:00' } });
    expect(readdirSync(join(box.cacheDir, 'activity'))).toContain('summary.json');
    for (const m of listModes(box.cacheDir)) expect({ path: m.path, mode: m.mode.toString(8) }).toEqual({ path: m.path, mode: m.dir ? '700' : '600' });
  });

  it('keeps the lock and the temp files of a recording in progress 0700 and 0600', async ({ box }) => {
    const command = box.counter(
      'slow.sh',
      `echo $$ > '${box.path('slow.pid')}'; echo partial; while [ ! -e '${box.path('release')}' ]; do sleep 0.05; done`,
    );
    const call = startShell(box, `umask 000; exec $DCACHE run -- '${command.path}'`);
    await waitUntil('the command runs', () => existsSync(box.path('slow.pid')));
    box.killAtCleanup(readPid(box.path('slow.pid')));
    await waitUntil('the lock has its owner', () => listFiles(join(box.cacheDir, 'locks')).length > 0);
    const inProgress = listModes(box.cacheDir);
    writeFileSync(box.path('release'), '');
    await call.done;
    expect(inProgress.some((m) => m.path.endsWith('.lock'))).toBe(true);
    expect(inProgress.some((m) => m.path.includes('/tmp/'))).toBe(true);
    for (const m of inProgress) expect({ path: m.path, mode: m.mode.toString(8) }).toEqual({ path: m.path, mode: m.dir ? '700' : '600' });
  });
});

// The paths under a directory, each with its size, for before/after comparisons.
function inventory(dir: string): string[] {
  return listModes(dir)
    .map((m) => `${relative(dir, m.path)} ${m.mode.toString(8)} ${m.dir ? '' : statSync(m.path).size}`)
    .sort();
}

// A cache directory with an entry, a crashed recording's temp file (two
// hours old) and no gc stamp, so that any clean-up would show.
function populatedCache(box: Sandbox): string {
  const seed = box.counter('seed.sh', 'echo seed');
  box.dcache(['run', '--', seed.path]);
  const temp = join(box.cacheDir, 'tmp', 'crashed.tmp');
  writeFileSync(temp, 'left by a crash', { mode: 0o600 });
  const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
  utimesSync(temp, old, old);
  rmSync(join(box.cacheDir, 'gc-stamp'), { force: true });
  return box.cacheDir;
}

const refusals: Array<[string, (dir: string) => void, RegExp]> = [
  [
    'owned by another user',
    (dir) => expect(spawnSync('chown', ['-R', '65534:65534', dir]).status).toBe(0),
    /^dcache: cannot use the cache directory .*\/cache \(it belongs to another user \(uid 65534\)\); running without the cache$/,
  ],
  [
    'writable by everyone (mode 777)',
    (dir) => expect(spawnSync('chmod', ['777', dir]).status).toBe(0),
    /^dcache: cannot use the cache directory .*\/cache \(others may write to it \(mode 777\); chmod 700 it\); running without the cache$/,
  ],
];

describe('a cache directory that is not private', () => {
  for (const [what, spoil, message] of refusals) {
    it(`is refused with one clear warning, and the command runs uncached each time: ${what}`, ({ box }) => {
      spoil(populatedCache(box));
      const command = box.counter('fetch.sh', 'echo data; exit 3');
      const first = box.dcache(['run', '--cache-failures', '--', command.path]);
      const second = box.dcache(['run', '--cache-failures', '--', command.path]);
      expect(command.runs()).toBe(2);
      for (const r of [first, second]) {
        expect(r.code).toBe(3);
        expect(r.stdout.toString()).toBe('data\n');
        const lines = plain(r.stderr).trimEnd().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(message);
      }
    });

    it(`is left untouched: nothing written, nothing removed: ${what}`, ({ box }) => {
      const dir = populatedCache(box);
      spoil(dir);
      const before = inventory(dir);
      const command = box.counter('fetch.sh', 'echo data');
      box.dcache(['run', '--', command.path]);
      expect(inventory(dir)).toEqual(before);
    });
  }
});

// --- secrets ---

const SECRET = 'tok-3f9a1c-do-not-leak';

// Every file under the cache directory that contains `text`.
function filesContaining(box: Sandbox, text: string): string[] {
  return listFiles(box.cacheDir).filter((f) => readFileSync(f).includes(Buffer.from(text)));
}

// ls, ls --json, show, show --json and status --explain, all concatenated.
async function everyReport(box: Sandbox, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const key = basename(manifests(box.cacheDir)[0]!, '.json');
  const outputs: string[] = [];
  for (const report of [['ls'], ['ls', '--json'], ['show', key], ['show', key, '--json'], ['stats', '--json']]) {
    const r = box.dcache(report, { env });
    expect(r.code).toBe(0);
    outputs.push(r.stdout.toString(), r.stderr);
  }
  // status probes watched URLs, so it must not block this process's server
  const status = await startDcache(box, ['status', '--explain', ...args], { env }).done;
  outputs.push(status.stdout.toString(), status.stderr);
  return outputs.join('\n');
}

describe('--env values', () => {
  const args = (path: string) => ['-e', 'SECRET_TOKEN', '-e', 'SECRET_*', '--', path];
  const env = { SECRET_TOKEN: SECRET, SECRET_OTHER: `${SECRET}-2` };

  it('are never written to the cache directory', ({ box }) => {
    const command = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '-v', '--explain', ...args(command.path)], { env });
    box.dcache(['run', ...args(command.path)], { env });
    expect(manifests(box.cacheDir)).toHaveLength(1);
    expect(filesContaining(box, SECRET)).toEqual([]);
  });

  it('are never shown by run --explain, ls, show, show --json or status --explain', async ({ box }) => {
    const command = box.counter('fetch.sh', 'echo fetched');
    const run = box.dcache(['run', '-v', '--explain', ...args(command.path)], { env });
    expect(run.stderr).toContain('SECRET_TOKEN');
    const reports = await everyReport(box, args(command.path), env);
    expect(reports).toContain('SECRET_TOKEN');
    expect(`${run.stderr}\n${reports}`).not.toContain(SECRET);
  });
});

// An HTTP server in this process that answers HEAD with an ETag when the
// request carries the expected basic credentials, and 401 otherwise.
async function startServer(user: string, password: string): Promise<{ server: Server; port: number; authorized: () => number }> {
  let authorized = 0;
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401);
      res.end();
      return;
    }
    authorized += 1;
    res.writeHead(200, { etag: '"v1"', 'content-length': '4' });
    res.end(req.method === 'HEAD' ? undefined : 'data');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, authorized: () => authorized };
}

describe('credentials in a --watch URL', () => {
  const cases: Array<[string, string, string, string]> = [
    ['a plain password', 'alice', SECRET, SECRET],
    // The last @ ends the credentials (WHATWG URL parsing, and curl's too).
    ['a password with an @ in it', 'alice', `p@${SECRET}`, SECRET],
  ];

  for (const [what, user, password, secret] of cases) {
    it(`are used, but never written to the cache directory or shown: ${what}`, async ({ box }) => {
      const { server, port, authorized } = await startServer(user, password);
      try {
        const url = `http://${user}:${password}@127.0.0.1:${port}/export.csv`;
        const command = box.counter('fetch.sh', 'echo fetched');
        const args = ['-p', 'forever', '-w', url, '--', command.path];
        const run = await startDcache(box, ['run', '-v', '--explain', ...args]).done;
        expect(run.code).toBe(0);
        const hit = await startDcache(box, ['run', '-v', '--explain', ...args]).done;
        expect(command.runs()).toBe(1);
        expect(authorized()).toBeGreaterThanOrEqual(2);
        const reports = await everyReport(box, args, {});
        expect(reports).toContain(`127.0.0.1:${port}/export.csv`);
        expect(filesContaining(box, secret)).toEqual([]);
        expect(`${run.stderr}\n${hit.stderr}\n${reports}`).not.toContain(secret);
      } finally {
        server.close();
      }
    });
  }

  it('are not shown when the URL cannot be reached', async ({ box }) => {
    const { server, port } = await startServer('x', 'y');
    server.close();
    const command = box.counter('fetch.sh', 'echo fetched');
    const args = ['-p', 'forever', '-w', `http://alice:${SECRET}@127.0.0.1:${port}/gone`, '--', command.path];
    const first = await startDcache(box, ['run', '-v', '--explain', ...args]).done;
    const second = await startDcache(box, ['run', '-v', '--explain', ...args]).done;
    expect(command.runs()).toBe(2);
    expect(plain(second.stderr)).toContain('could not be checked');
    expect(`${first.stderr}\n${second.stderr}`).not.toContain(SECRET);
    expect(filesContaining(box, SECRET)).toEqual([]);
  });

  it('are not shown when the URL is refused', ({ box }) => {
    for (const url of [`ftp://alice:${SECRET}@example.com/x`, `http://alice:${SECRET}@exa mple.com/`]) {
      const r = box.dcache(['run', '-w', url, '--', 'true']);
      expect(r.code).toBe(125);
      expect(plain(r.stderr)).toMatch(/^dcache: --watch '[a-z]+:\/\/\*\*\*@/);
      expect(r.stderr).not.toContain(SECRET);
    }
  });
});

