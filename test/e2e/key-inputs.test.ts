import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { listFiles } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { expectOneLineRefusal, plain } from '../support/messages.js';

// The rig scrubs every DCACHE_* variable from the inherited environment, so
// these start unset in every test.
const REGION = 'DCACHE_TEST_REGION';

describe('--env', () => {
  it('selects a different entry for a different value and replays the same value', ({ box }) => {
    const show = box.counter('show.sh', `echo "region=$${REGION}"`);
    const call = (value: string) => box.dcache(['run', '--env', REGION, '--', show.path], { env: { [REGION]: value } });
    expect(call('eu').stdout.toString()).toBe('region=eu\n');
    expect(call('us').stdout.toString()).toBe('region=us\n');
    expect(show.runs()).toBe(2);
    const hit = call('eu');
    expect(show.runs()).toBe(2);
    expect(hit.code).toBe(0);
    expect(hit.stdout.toString()).toBe('region=eu\n');
    expect(hit.stderr).toBe('');
  });

  it('tells an unset variable from an empty one', ({ box }) => {
    const show = box.counter('show.sh', `echo "region=\${${REGION}-unset}"`);
    const call = (env: NodeJS.ProcessEnv) => box.dcache(['run', '-e', REGION, '--', show.path], { env });
    expect(call({}).stdout.toString()).toBe('region=unset\n');
    expect(call({ [REGION]: '' }).stdout.toString()).toBe('region=\n');
    expect(show.runs()).toBe(2);
    expect(call({}).stdout.toString()).toBe('region=unset\n');
    expect(call({ [REGION]: '' }).stdout.toString()).toBe('region=\n');
    expect(show.runs()).toBe(2);
  });

  it('leaves variables that are not named out of the key', ({ box }) => {
    const show = box.counter('show.sh', 'echo "other=$DCACHE_TEST_OTHER"');
    box.dcache(['run', '-e', REGION, '--', show.path], { env: { [REGION]: 'eu', DCACHE_TEST_OTHER: 'one' } });
    const hit = box.dcache(['run', '-e', REGION, '--', show.path], { env: { [REGION]: 'eu', DCACHE_TEST_OTHER: 'two' } });
    expect(show.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('other=one\n');
  });

  it('matches variable names with a glob', ({ box }) => {
    const show = box.counter('show.sh', 'env | grep ^DCACHE_TEST_ | sort');
    const call = (env: NodeJS.ProcessEnv) => box.dcache(['run', '-e', 'DCACHE_TEST_*', '--', show.path], { env });
    call({ DCACHE_TEST_A: '1' });
    call({ DCACHE_TEST_A: '2' });
    call({ DCACHE_TEST_A: '1', DCACHE_TEST_B: '1' });
    expect(show.runs()).toBe(3);
    const hit = call({ DCACHE_TEST_A: '1', OTHER_NOT_MATCHED: 'x' });
    expect(show.runs()).toBe(3);
    expect(hit.stdout.toString()).toBe('DCACHE_TEST_A=1\n');
  });

  it('never writes the value into the cache directory, in clear or as a plain SHA-256', ({ box }) => {
    const secret = 'hunter2-7f3a91c4-do-not-store';
    const use = box.counter('use.sh', 'test -n "$DCACHE_TEST_TOKEN" && echo token is set');
    for (const spec of ['DCACHE_TEST_TOKEN', 'DCACHE_TEST_*']) {
      for (let i = 0; i < 2; i++) {
        const r = box.dcache(['run', '-e', spec, '--', use.path], { env: { DCACHE_TEST_TOKEN: secret } });
        expect(r.stdout.toString()).toBe('token is set\n');
      }
    }
    expect(use.runs()).toBe(2);
    const files = listFiles(box.cacheDir);
    expect(files.length).toBeGreaterThan(0);
    const sha = createHash('sha256').update(secret).digest('hex');
    for (const file of files) {
      const bytes = readFileSync(file);
      expect(bytes.includes(secret), file).toBe(false);
      expect(bytes.includes(sha.slice(0, 32)), file).toBe(false);
    }
  });

  it('never prints the value with --verbose', ({ box }) => {
    const secret = 'hunter2-7f3a91c4-do-not-print';
    const use = box.counter('use.sh', 'echo done');
    const miss = box.dcache(['run', '-v', '-e', 'DCACHE_TEST_TOKEN', '--', use.path], { env: { DCACHE_TEST_TOKEN: secret } });
    const hit = box.dcache(['run', '-v', '-e', 'DCACHE_TEST_TOKEN', '--', use.path], { env: { DCACHE_TEST_TOKEN: secret } });
    expect(use.runs()).toBe(1);
    expect(plain(miss.stderr)).toMatch(/^dcache: miss \(no entry\); running .*use\.sh\ndcache: recorded 5 B in .*\n$/);
    expect(plain(hit.stderr)).toMatch(/^dcache: hit: /);
    for (const r of [miss, hit]) expect(r.stderr).not.toContain(secret);
  });
});

describe('--stdin', () => {
  it('feeds standard input to the command byte for byte', ({ box }) => {
    const input = Buffer.from([0x61, 0x00, 0xff, 0x0a, 0x62]);
    const r = box.dcache(['run', '--stdin', '--', 'cat'], { input });
    expect(r.code).toBe(0);
    expect(r.stdout.equals(input)).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('selects a different entry for different input and replays the same input', ({ box }) => {
    const count = box.counter('count.sh', 'wc -c');
    const call = (input: string) => box.dcache(['run', '--stdin', '--', count.path], { input });
    expect(call('abc').stdout.toString().trim()).toBe('3');
    expect(call('abcdef').stdout.toString().trim()).toBe('6');
    expect(count.runs()).toBe(2);
    const hit = call('abc');
    expect(count.runs()).toBe(2);
    expect(hit.code).toBe(0);
    expect(hit.stdout.toString().trim()).toBe('3');
  });

  it('gives the command /dev/null as its stdin without --stdin, and leaves stdin out of the key', ({ box }) => {
    const echo = box.counter('echo.sh', 'cat; echo end');
    const first = box.dcache(['run', '--', echo.path], { input: 'piped in\n' });
    const second = box.dcache(['run', '--', echo.path], { input: 'something else\n' });
    expect(echo.runs()).toBe(1);
    for (const r of [first, second]) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('end\n');
    }
  });

  it('removes its copy of stdin once the command is done', ({ box }) => {
    mkdirSync(box.path('tmp'));
    const r = box.dcache(['run', '--stdin', '--', 'cat'], { input: 'data\n', env: { TMPDIR: box.path('tmp') } });
    expect(r.stdout.toString()).toBe('data\n');
    expect(readdirSync(box.path('tmp'))).toEqual([]);
  });
});

describe('the working directory in the key', () => {
  it('is in the key by default', ({ box }) => {
    const where = box.counter('where.sh', 'basename "$PWD"');
    mkdirSync(box.path('a'));
    mkdirSync(box.path('b'));
    const a = box.dcache(['run', '--', where.path], { cwd: box.path('a') });
    const b = box.dcache(['run', '--', where.path], { cwd: box.path('b') });
    expect(where.runs()).toBe(2);
    expect(a.stdout.toString()).toBe('a\n');
    expect(b.stdout.toString()).toBe('b\n');
  });

  it('is left out with --no-cwd, so directories share an entry', ({ box }) => {
    const where = box.counter('where.sh', 'basename "$PWD"');
    mkdirSync(box.path('a'));
    mkdirSync(box.path('b'));
    box.dcache(['run', '--no-cwd', '--', where.path], { cwd: box.path('a') });
    const b = box.dcache(['run', '--no-cwd', '--', where.path], { cwd: box.path('b') });
    expect(where.runs()).toBe(1);
    expect(b.code).toBe(0);
    expect(b.stdout.toString()).toBe('a\n');
  });
});

describe('--key', () => {
  it('namespaces entries', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--key', 'alpha', '--', fetch.path]);
    box.dcache(['run', '--key', 'beta', '--', fetch.path]);
    box.dcache(['run', '--', fetch.path]);
    expect(fetch.runs()).toBe(3);
    const hit = box.dcache(['run', '--key', 'alpha', '--', fetch.path]);
    expect(fetch.runs()).toBe(3);
    expect(hit.stdout.toString()).toBe('data\n');
  });
});

describe('--shell', () => {
  it('runs one command string through /bin/sh -c and replays it', ({ box }) => {
    const emit = box.counter('emit.sh', "printf 'b\\na\\n'");
    const line = `'${emit.path}' | sort`;
    const first = box.dcache(['run', '--shell', '--', line]);
    const hit = box.dcache(['run', '--shell', '--', line]);
    expect(emit.runs()).toBe(1);
    for (const r of [first, hit]) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('a\nb\n');
      expect(r.stderr).toBe('');
    }
  });

  it('runs a pipeline the same way with sh -c and no --shell', ({ box }) => {
    const r = box.dcache(['run', '--', 'sh', '-c', "printf 'b\\na\\n' | sort"]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('a\nb\n');
    expect(r.stderr).toBe('');
  });

  it('exits 125 with one line when given more than one argument', ({ box }) => {
    const emit = box.counter('emit.sh', 'echo hi');
    const r = box.dcache(['run', '--shell', '--', emit.path, 'extra']);
    expect(r.code).toBe(125);
    expect(r.stdout.length).toBe(0);
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^dcache: --shell takes the command as one string.*got 2 arguments$/);
    expect(emit.runs()).toBe(0);
  });
});

describe('bad key inputs', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an --env value that is neither a name nor a glob', ['-e', 'A B'], /--env 'A B' is not a variable name or a glob/],
    ['an --env value with an equals sign', ['--env', 'A=1'], /--env 'A=1' is not a variable name or a glob/],
    ['an empty --key', ['--key', ''], /--key '' is empty/],
  ];
  for (const [what, args, message] of cases) {
    it(`exits 125 with one line naming ${what}, and does not run the command`, ({ box }) => {
      const fetch = box.counter('fetch.sh', 'echo data');
      const r = box.dcache(['run', ...args, '--', fetch.path]);
      expectOneLineRefusal(r, 125, message);
      expect(fetch.runs()).toBe(0);
    });
  }
});

