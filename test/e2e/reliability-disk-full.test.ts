import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFiles, locks, manifests } from '../support/cache-files.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { dcacheLines, plain } from '../support/messages.js';
import { dcacheWithin, type Sandbox } from '../support/sandbox.js';

// A full disk while recording, for real: the cache directory lives on a
// 2 MiB tmpfs mounted for these tests (they run as root). The command's
// output and exit code must come through whole; nothing is recorded, no
// temp file or lock is left, and dcache warns once.

let mountPoint: string;
let cacheDir: string;

beforeAll(() => {
  mountPoint = mkdtempSync(join(tmpdir(), 'dcache-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `cannot mount a 2 MiB tmpfs on ${mountPoint} (${r.error?.message ?? r.stderr.trim()}): ` +
        'the disk-full tests need root (or CAP_SYS_ADMIN) and must not be skipped',
    );
  }
});
afterAll(() => {
  spawnSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});
beforeEach(() => {
  for (const name of readdirSync(mountPoint)) rmSync(join(mountPoint, name), { recursive: true, force: true });
  cacheDir = join(mountPoint, 'cache');
});

const run = (box: Sandbox, args: string[]) => box.dcache(['run', ...args], { env: { DCACHE_DIR: cacheDir } });
const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

// About 5 MB of varied lines: more than the 2 MiB the cache may use.
const FIVE_MB = 'seq 1 750000';
const expected = (box: Sandbox) => box.shell(FIVE_MB).stdout;

function fillTheDisk(): void {
  // dd stops at ENOSPC, which is the point
  spawnSync('dd', ['if=/dev/zero', `of=${join(mountPoint, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
}

const tmpLeft = () => listFiles(join(cacheDir, 'tmp'));

describe('a disk that fills up while recording', () => {
  it('passes the whole output through, records nothing, removes its temp files and warns once', ({ box }) => {
    const command = box.counter('big.sh', FIVE_MB);
    const r = run(box, ['--', command.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(expected(box).length);
    expect(sha(r.stdout)).toBe(sha(expected(box)));
    expect(plain(r.stderr)).toMatch(/^dcache: the run was not recorded \(ENOSPC: no space left on device, write\)\n$/);
    expect(manifests(cacheDir)).toEqual([]);
    expect(tmpLeft()).toEqual([]);
    expect(locks(cacheDir)).toEqual([]);
  });

  it('runs the command again on the next call', ({ box }) => {
    const command = box.counter('big.sh', FIVE_MB);
    run(box, ['--', command.path]);
    const next = run(box, ['--', command.path]);
    expect(command.runs()).toBe(2);
    expect(next.code).toBe(0);
    expect(sha(next.stdout)).toBe(sha(expected(box)));
  });

  it("passes the command's exit code through with --cache-failures", ({ box }) => {
    const command = box.counter('big-fail.sh', `${FIVE_MB}; exit 3`);
    const r = run(box, ['--cache-failures', '--', command.path]);
    expect(r.code).toBe(3);
    expect(sha(r.stdout)).toBe(sha(expected(box)));
    expect(plain(r.stderr)).toMatch(/^dcache: the run was not recorded \(ENOSPC: no space left on device, write\)\n$/);
    expect(manifests(cacheDir)).toEqual([]);
    expect(tmpLeft()).toEqual([]);
  });

  it('passes a 5 MB stderr through whole', ({ box }) => {
    const command = box.counter('big-err.sh', `${FIVE_MB} >&2`);
    const r = run(box, ['--', command.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    const warning = 'dcache: the run was not recorded (ENOSPC: no space left on device, write)\n';
    expect(r.stderr.endsWith(warning)).toBe(true);
    expect(sha(r.stderr.slice(0, -warning.length))).toBe(sha(expected(box)));
    expect(tmpLeft()).toEqual([]);
  });

  it('records nothing when a 5 MB output file does not fit, and says so once', ({ box }) => {
    const command = box.counter('writes-file.sh', `${FIVE_MB} > export.csv; echo wrote`);
    const r = run(box, ['-o', 'export.csv', '--', command.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('wrote\n');
    expect(plain(r.stderr)).toMatch(/^dcache: cannot capture the output files \(ENOSPC: no space left on device, write\); nothing was recorded\n$/);
    expect(sha(box.shell('cat export.csv').stdout)).toBe(sha(expected(box)));
    expect(manifests(cacheDir)).toEqual([]);
    expect(tmpLeft()).toEqual([]);
  });
});

describe('a disk that is already full', () => {
  // The store exists (an earlier recording made it), then the disk fills up.
  function fullStore(box: Sandbox, body: string) {
    const command = box.counter('quiet.sh', body);
    run(box, ['--', 'true']);
    fillTheDisk();
    return command;
  }

  it('runs a command that prints nothing and passes its exit code through', ({ box }) => {
    const command = fullStore(box, 'exit 4');
    const r = run(box, ['--cache-failures', '--', command.path]);
    expect(r.code).toBe(4);
    expect(r.stdout.length).toBe(0);
    expect(command.runs()).toBe(1);
  });

  it('warns once', ({ box }) => {
    const command = fullStore(box, 'exit 0');
    const r = run(box, ['--', command.path]);
    expect(r.code).toBe(0);
    expect(dcacheLines(r.stderr)).toHaveLength(1);
  });

  it('leaves no temp file', ({ box }) => {
    const command = fullStore(box, 'exit 0');
    run(box, ['--', command.path]);
    expect(tmpLeft()).toEqual([]);
  });

  it('leaves no lock', ({ box }) => {
    const command = fullStore(box, 'exit 0');
    run(box, ['--', command.path]);
    expect(locks(cacheDir)).toEqual([]);
  });

  it('does not make the next call wait for a lock once space is freed', ({ box }) => {
    const command = fullStore(box, 'echo hi');
    run(box, ['--', command.path]);
    rmSync(join(mountPoint, 'filler'));
    // a couple of seconds at most; a stale lock would hold it for 10
    const next = dcacheWithin(box, 5_000, ['run', '-v', '--', command.path], { env: { DCACHE_DIR: cacheDir } });
    expect(next.signal).toBeNull();
    expect(next.stdout.toString()).toBe('hi\n');
    expect(plain(next.stderr)).toMatch(/^dcache: miss \(no entry\); running .*quiet\.sh\ndcache: recorded 3 B in .*\n$/);
  });
});
