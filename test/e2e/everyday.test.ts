import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blockAfter, readDoc } from '../support/docs.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { BIN } from '../support/sandbox.js';

// Everyday use: what -v says at the end of a miss, and the README's first
// command and cron recipe, run as written.

const README = readDoc('README.md');

describe('-v at the end of a miss', () => {
  it('says what was recorded: size, duration and until when it is fresh', ({ box }) => {
    const r = box.dcache(['run', '-v', '-p', 'ttl:1h30m', '--', 'echo', 'hello'], { env: { DCACHE_NOW: '2026-11-24T09:00:00Z', TZ: 'UTC' } });
    expect(plain(r.stderr).split('\n')[1]).toMatch(/^dcache: recorded 6 B in \d+ ms, fresh until 2026-11-24 10:30:00 \+00:00$/);
  });

  it('says why nothing was recorded: a failure, or a declared output that is missing', ({ box }) => {
    const failed = box.dcache(['run', '-v', '--', 'sh', '-c', 'exit 3']);
    expect(failed.code).toBe(3);
    expect(plain(failed.stderr).split('\n')[1]).toBe('dcache: not recorded: exit 3; only exit 0 is recorded (--cache-failures records failures)');
    const missing = box.dcache(['run', '-v', '-o', 'report.csv', '--', 'true']);
    expect(plain(missing.stderr).trimEnd().split('\n').at(-1)).toBe("dcache: not recorded: the declared output 'report.csv' does not exist");
  });

  it('says on a hit of a recorded failure that it is one, with its exit code', ({ box }) => {
    const args = ['run', '-v', '--cache-failures', '--', 'sh', '-c', 'echo down; exit 4'];
    expect(plain(box.dcache(args).stderr).split('\n')[1]).toMatch(/^dcache: recorded 5 B in \d+ ms, exit 4, fresh until /);
    const hit = box.dcache(args);
    expect(hit.code).toBe(4);
    expect(plain(hit.stderr)).toMatch(/^dcache: hit: recorded \d+s ago \([^)]+\), a failure \(exit 4\), fresh until /);
  });
});

describe('the README, as written', () => {
  it('has a first command that works: the second call replays what the first printed', ({ box }) => {
    const lines = blockAfter(README, '## Install and run');
    expect(lines[0]).toBe("npm install && npx dcache run -v -- sh -c 'sleep 3; date'");
    // `npx dcache` is this checkout's bin/dcache.js; npm install has run
    const line = lines[1]!.replace(/^npx dcache /, `'${process.execPath}' '${BIN}' `);
    const first = box.shell(line);
    const second = box.shell(line);
    expect(first.code).toBe(0);
    expect(second.stdout.toString()).toBe(first.stdout.toString());
    expect(plain(first.stderr)).toMatch(/^dcache: miss \(no entry\); running sh -c 'sleep 3; date'\ndcache: recorded /);
    expect(plain(second.stderr)).toMatch(/^dcache: hit: /);
  });

  it('has a cron recipe that works under env -i with cron’s PATH and the crontab’s own', ({ box }) => {
    const lines = blockAfter(README, '### cron');
    const pathLine = lines.find((line) => line.startsWith('PATH='));
    const job = lines.find((line) => /^[\d*]/.test(line));
    expect(pathLine).toBe('PATH=/usr/local/bin:/usr/bin:/bin');
    // where `npm install -g` would have put dcache: a directory of the sandbox
    // stands in for /usr/local/bin, with node and dcache in it
    const local = box.path('usr-local-bin');
    mkdirSync(local);
    writeFileSync(join(local, 'dcache'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
    chmodSync(join(local, 'dcache'), 0o755);
    const reports = box.path('srv', 'reports');
    mkdirSync(reports, { recursive: true });
    writeFileSync(join(reports, 'fetch-customers.sh'), "#!/bin/sh\nmkdir -p raw && echo 'id,name' > raw/customers.csv\n");
    chmodSync(join(reports, 'fetch-customers.sh'), 0o755);
    const command = job!.replace(/^(\S+\s+){5}/, '').replace('/srv/reports', reports);
    const cronPath = pathLine!.slice('PATH='.length).replace('/usr/local/bin', local);
    const run = (path: string) =>
      spawnSync('env', ['-i', `PATH=${path}`, `HOME=${box.root}`, 'SHELL=/bin/sh', `DCACHE_DIR=${box.cacheDir}`, '/bin/sh', '-c', command], { encoding: 'utf8' });
    const without = run('/usr/bin:/bin');
    expect(without.status).toBe(127);
    const r = run(cronPath);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(join(reports, 'raw', 'customers.csv'), 'utf8')).toBe('id,name\n');
  });
});

describe('arguments after the command', () => {
  it('belong to the command; one that reads as a dcache option is named once on stderr', ({ box }) => {
    const r = box.dcache(['run', 'echo', 'hi', '-p', 'ttl:1h', '-v']);
    expect(r.stdout.toString()).toBe('hi -p ttl:1h -v\n');
    expect(plain(r.stderr)).toBe(
      "dcache: '-p' comes after the command, so it is passed to echo, not read by dcache; put dcache's options before the command (and -- between them to say so)\n",
    );
    const explicit = box.dcache(['run', '--', 'echo', 'hi', '-p']);
    expect(explicit.stderr).toBe('');
    expect(box.dcache(['run', 'git', '--version']).stderr).toBe('');
  });
});

describe('when a call has no entry, the entries of the same command with other options', () => {
  it('are named, with what differs, by -v, status and clear --', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo rows > raw.csv');
    box.dcache(['run', '-o', 'raw.csv', '--', script.path]);
    box.dcache(['run', '--key', 'nightly', '--', script.path]);
    const v = box.dcache(['run', '-v', '-e', 'TOKEN', '--', script.path]);
    // the later one first
    expect(plain(v.stderr).split('\n')[0]).toMatch(
      /^dcache: miss \(no entry; recorded with other options: [0-9a-f]{16}, recorded \d+s ago, without -e TOKEN, with --key "nightly"; [0-9a-f]{16}, recorded \d+s ago, with -o raw\.csv, without -e TOKEN\); running /,
    );
    const status = box.dcache(['status', '--', script.path]);
    expect(status.code).toBe(1);
    expect(status.stdout.toString()).toMatch(/^would run: no entry\n {2}recorded with other options: [0-9a-f]{16}, recorded \d+s ago, with -e TOKEN\n/);
    const cleared = box.dcache(['clear', '--key', 'other', '--', script.path]);
    expect(cleared.stdout.toString()).toBe('removed 0 entries, 0 B\n');
    expect(plain(cleared.stderr)).toMatch(/^dcache: no entry for this command line; one recorded with other options: [0-9a-f]{16}, recorded \d+s ago, with --key "nightly"\n/);
  });
});
