import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { listFiles, locks, manifests } from '../support/cache-files.js';
import { afterEach, describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { isGone, readPid } from '../support/processes.js';
import { startDcache } from '../support/running.js';
import { dcacheWithin, type Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// Signals, closed pipes and closed streams: dcache stops the way a shell
// expects, passes the signal on to everything the command started, leaves
// no orphan and no lock, and never records a torn or interrupted run.

// Lets the commands of a failed test end.
afterEach(({ box }) => {
  writeFileSync(box.path('release'), '');
});

// A command that writes its pid, starts a grandchild (in the foreground of
// a pipeline, so that it does not ignore SIGINT as a background job of a
// non-interactive shell would) which writes its own pid, says "started",
// and waits for `release`. Later runs print "started" and exit at once.
function family(box: Sandbox) {
  const wait = `while [ ! -e '${box.path('release')}' ]; do sleep 0.05; done`;
  const command = box.counter(
    'family.sh',
    [
      `if [ $(wc -l < '${box.path('family.sh.count')}') -gt 1 ]; then echo started; exit 0; fi`,
      `echo $$ > '${box.path('command.pid')}'`,
      'echo started',
      `sh -c 'echo $$ > "${box.path('grandchild.pid')}"; ${wait}' | cat`,
    ].join('\n'),
  );
  return {
    ...command,
    running: () => existsSync(box.path('command.pid')) && existsSync(box.path('grandchild.pid')),
    pids: () => [readPid(box.path('command.pid')), readPid(box.path('grandchild.pid'))],
  };
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

describe('a signal sent to dcache while the command runs', () => {
  for (const signal of SIGNALS) {
    const number = constants.signals[signal];

    it(`${signal}: exits ${128 + number} after the command ends, quietly`, async ({ box }) => {
      const command = family(box);
      const call = startDcache(box, ['run', '--', command.path]);
      await waitUntil('the command and its child run', command.running);
      box.killAtCleanup(command.pids()[0]!);
      process.kill(call.pid, signal);
      const r = await call.done;
      expect(r.signal).toBeNull();
      expect(r.code).toBe(128 + number);
      expect(r.stdout.toString()).toBe('started\n');
      expect(r.stderr).toBe('');
    });

    it(`${signal}: is passed on to the command and the process it started, leaving no orphan`, async ({ box }) => {
      const command = family(box);
      const call = startDcache(box, ['run', '--', command.path]);
      await waitUntil('the command and its child run', command.running);
      const [pid, grandchild] = command.pids();
      box.killAtCleanup(pid!);
      process.kill(call.pid, signal);
      await call.done;
      await waitUntil('the command is gone', () => isGone(pid!), 2_000);
      await waitUntil('the grandchild is gone', () => isGone(grandchild!), 2_000);
    });

    it(`${signal}: records nothing and leaves no lock, so the next call runs the command`, async ({ box }) => {
      const command = family(box);
      const call = startDcache(box, ['run', '--', command.path]);
      await waitUntil('the command and its child run', command.running);
      box.killAtCleanup(command.pids()[0]!);
      process.kill(call.pid, signal);
      await call.done;
      expect(manifests(box.cacheDir)).toEqual([]);
      expect(locks(box.cacheDir)).toEqual([]);
      const next = box.dcache(['run', '--', command.path]);
      expect(command.runs()).toBe(2);
      expect(next.code).toBe(0);
      expect(next.stdout.toString()).toBe('started\n');
    });
  }

  it('waits for a command that cleans up on SIGTERM before it exits', async ({ box }) => {
    const command = box.counter(
      'tidy.sh',
      [
        `trap 'sleep 0.3; echo tidied > "${box.path('tidied')}"; exit 1' TERM`,
        `echo $$ > '${box.path('tidy.pid')}'`,
        `while [ ! -e '${box.path('release')}' ]; do sleep 0.05; done`,
      ].join('\n'),
    );
    const call = startDcache(box, ['run', '--', command.path]);
    await waitUntil('the command runs', () => existsSync(box.path('tidy.pid')));
    process.kill(call.pid, 'SIGTERM');
    const r = await call.done;
    expect(r.code).toBe(143);
    // dcache exited after the command had finished tidying up
    expect(readFileSync(box.path('tidied'), 'utf8')).toBe('tidied\n');
    expect(manifests(box.cacheDir)).toEqual([]);
  });
});

// `dcache run -- <cmd> | head -1` under bash, with the status of dcache's side.
const throughHead = (box: Sandbox, args: string) =>
  box.shell(`bash -c '$DCACHE run ${args} | head -1; echo "status \${PIPESTATUS[0]}"'`);

// run.test.ts covers a miss and a hit cut short by `| head -1`; these go further.
// The rule: a reader that goes away changes nothing for a recorded run. The
// command finishes, its whole output is recorded, and dcache exits with its
// code (as bkt does); a hit cut short exits with the recorded code.
describe('a reader that closes the pipe early', () => {
  it('exits with the command’s own code and records its whole output, every time, whenever the reader leaves (20 runs)', ({ box }) => {
    // Outputs of 14 KB to 340 KB: some are done before the reader leaves,
    // some not, and some fill the pipes between; it used to decide between
    // 0 and 141, and between an entry and none.
    const r = box.shell(
      `bash -c 'for i in $(seq 1 20); do $DCACHE run -- seq 1 $((i * 3000)) | head -c 10 > /dev/null; echo "$i \${PIPESTATUS[0]}"; ` +
        `echo "$i $($DCACHE run -- seq 1 $((i * 3000)) | cksum) $(seq 1 $((i * 3000)) | cksum)"; done'`,
    );
    expect(r.stderr).toBe('');
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(40);
    for (let i = 1; i <= 20; i++) {
      expect(lines[2 * i - 2]).toBe(`${i} 0`);
      // the replay is the command's whole output: cksum's sum and length of each
      const [n, replayedSum, replayedLength, sum, length] = lines[2 * i - 1]!.split(' ');
      expect([n, replayedSum, replayedLength]).toEqual([String(i), sum, length]);
    }
    expect(manifests(box.cacheDir)).toHaveLength(20);
  });

  it('passes on the exit code of a recorded failure whose reader left, and replays it whole', ({ box }) => {
    const command = box.counter('numbers.sh', 'seq 1 3000000; exit 3');
    expect(throughHead(box, `--cache-failures -- '${command.path}'`).stdout.toString()).toBe('1\nstatus 3\n');
    const next = box.shell(`$DCACHE run --cache-failures -- '${command.path}' | cksum`);
    expect(command.runs()).toBe(1);
    expect(next.stdout.toString()).toBe(box.shell('seq 1 3000000 | cksum').stdout.toString());
  });

  it('keeps the entry whole when a hit over 8 MiB is cut short, so the next call replays it in full', ({ box }) => {
    const command = box.counter('numbers.sh', 'seq 1 3000000');
    box.dcache(['run', '--', command.path]);
    expect(throughHead(box, `-- '${command.path}'`).stdout.toString()).toBe('1\nstatus 0\n');
    const next = box.shell(`$DCACHE run -- '${command.path}' | cksum`);
    expect(command.runs()).toBe(1);
    expect(next.stdout.toString()).toBe(box.shell('seq 1 3000000 | cksum').stdout.toString());
  });

  it('stops a hit verified before replay (under 8 MiB) quietly with the recorded exit code', ({ box }) => {
    const command = box.counter('numbers.sh', 'seq 1 200000; exit 4');
    box.dcache(['run', '--cache-failures', '--', command.path]);
    const r = throughHead(box, `--cache-failures -- '${command.path}'`);
    expect(r.stdout.toString()).toBe('1\nstatus 4\n');
    expect(r.stderr).toBe('');
    expect(command.runs()).toBe(1);
  });

  it('records the whole output, quietly, when the reader of its stderr goes away', ({ box }) => {
    const command = box.counter('noisy.sh', 'seq 1 3000000 >&2');
    const r = box.shell(`bash -c '$DCACHE run -- "${command.path}" 2>&1 >/dev/null | head -1; echo "status \${PIPESTATUS[0]}"'`);
    expect(r.stdout.toString()).toBe('1\nstatus 0\n');
    expect(r.stderr).toBe('');
    expect(manifests(box.cacheDir)).toHaveLength(1);
    expect(box.shell(`$DCACHE run -- "${command.path}" 2>&1 >/dev/null | cksum`).stdout.toString()).toBe(box.shell('seq 1 3000000 | cksum').stdout.toString());
    expect(command.runs()).toBe(1);
  });

  it('says nothing about EPIPE with --verbose either, beyond its miss line and what it recorded', ({ box }) => {
    const command = box.counter('numbers.sh', 'seq 1 3000000');
    const r = throughHead(box, `-v -- '${command.path}'`);
    expect(r.stdout.toString()).toBe('1\nstatus 0\n');
    expect(plain(r.stderr)).toMatch(/^dcache: miss \(no entry\); running .*numbers\.sh\ndcache: recorded 22 MiB in [^\n]+, fresh until [^\n]+\n$/);
  });

  it('lets the command meet the closed pipe, as without dcache, when nothing is recorded (the cache directory cannot be used)', ({ box }) => {
    const command = box.counter('numbers.sh', 'seq 1 3000000');
    writeFileSync(box.path('not-a-directory'), '');
    const r = box.shell(`bash -c '$DCACHE run -q --dir "${box.path('not-a-directory')}" -- "${command.path}" | head -1; echo "status \${PIPESTATUS[0]}"'`);
    expect(r.stdout.toString()).toBe('1\nstatus 141\n');
  });
});

describe('closed and redirected standard streams', () => {
  const script = (box: Sandbox) => box.counter('both.sh', 'echo to-stdout; echo to-stderr >&2; exit 5');

  it('runs with stdout closed (>&-), passes the exit code through, and records stdout for later', ({ box }) => {
    const command = script(box);
    const r = box.shell(`$DCACHE run --cache-failures -- '${command.path}' >&-; echo "status $?" >&2`);
    expect(r.stderr).toBe('to-stderr\nstatus 5\n');
    const hit = box.dcache(['run', '--cache-failures', '--', command.path]);
    expect(command.runs()).toBe(1);
    expect(hit.code).toBe(5);
    expect(hit.stdout.toString()).toBe('to-stdout\n');
    expect(hit.stderr).toBe('to-stderr\n');
  });

  it('runs with stderr closed (2>&-), passes the exit code through, and records stderr for later', ({ box }) => {
    const command = script(box);
    const r = box.shell(`$DCACHE run --cache-failures -- '${command.path}' 2>&-; echo "status $?"`);
    expect(r.stdout.toString()).toBe('to-stdout\nstatus 5\n');
    const hit = box.dcache(['run', '--cache-failures', '--', command.path]);
    expect(command.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('to-stdout\n');
    expect(hit.stderr).toBe('to-stderr\n');
  });

  it('replays a hit with both streams closed and exits with the recorded code', ({ box }) => {
    const command = script(box);
    box.dcache(['run', '--cache-failures', '--', command.path]);
    const r = box.shell(`$DCACHE run --cache-failures -- '${command.path}' >&- 2>&-; echo "status $?"`);
    expect(command.runs()).toBe(1);
    expect(r.stdout.toString()).toBe('status 5\n');
    expect(r.stderr).toBe('');
  });

  it('writes the same bytes to a file on a miss and on a hit', ({ box }) => {
    const command = box.counter('data.sh', "seq 1 50000; printf 'no newline'");
    box.shell(`$DCACHE run -- '${command.path}' > miss.txt 2> miss.err`);
    box.shell(`$DCACHE run -- '${command.path}' > hit.txt 2> hit.err`);
    expect(command.runs()).toBe(1);
    const miss = readFileSync(box.path('miss.txt'));
    expect(miss.equals(readFileSync(box.path('hit.txt')))).toBe(true);
    expect(miss.toString().endsWith('50000\nno newline')).toBe(true);
    expect(readFileSync(box.path('miss.err'), 'utf8')).toBe('');
    expect(readFileSync(box.path('hit.err'), 'utf8')).toBe('');
  });

  it('carries on when the command closes its own stdout early and goes on writing to stderr', ({ box }) => {
    const command = box.counter('closes.sh', 'echo first; exec 1>&-; echo err1 >&2; sleep 0.2; echo err2 >&2');
    const r = dcacheWithin(box, 10_000, ['run', '--', command.path]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('first\n');
    expect(r.stderr).toBe('err1\nerr2\n');
    const hit = box.dcache(['run', '--', command.path]);
    expect(command.runs()).toBe(1);
    expect(hit.stdout.toString()).toBe('first\n');
    expect(hit.stderr).toBe('err1\nerr2\n');
  });
});

// A parent that hands dcache a non-blocking pipe (as some runtimes share
// theirs) and reads it slowly: writes then find it full (EAGAIN) and must
// wait for room, whichever way a hit writes, and every byte arrives once.
describe('a non-blocking stdout that fills up', () => {
  const parent = `
import hashlib, os, subprocess, sys, time
r, w = os.pipe()
os.set_blocking(w, False)
child = subprocess.Popen(sys.argv[1:], stdout=w)
os.close(w)
time.sleep(0.5)
digest, size = hashlib.sha256(), 0
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    digest.update(chunk)
    size += len(chunk)
print(child.wait(), size, digest.hexdigest())
`;

  it('gets a hit over 8 MiB whole', ({ box }) => {
    const command = box.counter('numbers.sh', 'seq 1 3000000');
    box.dcache(['run', '--', command.path]);
    writeFileSync(box.path('parent.py'), parent);
    const r = box.shell(`python3 parent.py $DCACHE run -- '${command.path}'`);
    const expected = box.shell('seq 1 3000000 | wc -c; seq 1 3000000 | sha256sum').stdout.toString().split(/\s+/);
    expect(r.stdout.toString()).toBe(`0 ${expected[0]} ${expected[1]}\n`);
    expect(command.runs()).toBe(1);
  });
});

describe('a command that leaves a daemon behind', () => {
  // The daemon keeps the command's stdout and stderr open for 30 s.
  const daemonCommand = (box: Sandbox) => `sleep 30 & echo $! > '${box.path('daemon.pid')}'; echo started`;

  it('returns promptly with the command\'s output and exit code', ({ box }) => {
    const r = dcacheWithin(box, 10_000, ['run', '--', 'sh', '-c', daemonCommand(box)]);
    box.killAtCleanup(readPid(box.path('daemon.pid')));
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('started\n');
    expect(r.stderr).toBe('');
  });

  it('records the run, and its replay prints "started"', ({ box }) => {
    dcacheWithin(box, 10_000, ['run', '--', 'sh', '-c', daemonCommand(box)]);
    box.killAtCleanup(readPid(box.path('daemon.pid')));
    const hit = box.dcache(['run', '-v', '--', 'sh', '-c', daemonCommand(box)]);
    expect(hit.stdout.toString()).toBe('started\n');
    expect(plain(hit.stderr)).toMatch(/^dcache: hit: /);
    expect(listFiles(join(box.cacheDir, 'tmp'))).toEqual([]);
  });
});
