import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { listFiles, manifests, onlyEntry } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { machine } from '../support/machines.js';
import { CRASH, dcacheLines, plain } from '../support/messages.js';
import { dcacheWithin, type Sandbox } from '../support/sandbox.js';

// What a remote serves, or a cache directory holds, is bounded and judged
// before it is used: a document too deep or too long, a file or folder
// another user could have written, a cache that cannot be made, modes a
// remote chose. Each is a miss (or a run without the cache) with one line,
// never an internal error, and the command runs.

const remote = (box: Sandbox) => pathToFileURL(box.path('team-cache')).toString();
const NOBODY = 65534;

// `depth` arrays one inside the other: valid JSON that no walk of the
// parsed value survives.
const deepText = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

// Adds a field of this version's format that no version knows, nested 6,000
// deep (about 12 KB), to the manifest at `path`.
function nestDeep(path: string): void {
  const text = readFileSync(path, 'utf8');
  writeFileSync(path, `${text.slice(0, -1)},"unknownField":${deepText(6000)}}`);
}

describe('a manifest nested 6,000 deep in a field this version does not know', () => {
  it('on a remote is a miss with one line, not exit 125; the run that follows replaces it', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    const args = ['run', '--remote', remote(box), '--', script.path];
    expect(machine(box, 'a').run(args).code).toBe(0);
    nestDeep(manifests(box.path('team-cache'))[0]!);
    const b = machine(box, 'b').run(args);
    expect(b.stderr).not.toMatch(CRASH);
    expect(b.code).toBe(0);
    expect(b.stdout.toString()).toBe('fetched\n');
    expect(plain(b.stderr)).toBe(`dcache: ignored a garbled manifest on ${remote(box)}\n`);
    expect(script.runs()).toBe(2);
    // B shared its own entry in its place: C replays it
    const c = machine(box, 'c').run(args);
    expect(c.stdout.toString()).toBe('fetched\n');
    expect(c.stderr).toBe('');
    expect(script.runs()).toBe(2);
  });

  it('in the cache directory is a dropped entry with one line', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    nestDeep(manifests(box.cacheDir)[0]!);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(plain(r.stderr)).toBe('dcache: dropped a bad cache entry (garbled manifest (nested deeper than 32 levels)); running the command\n');
    expect(script.runs()).toBe(2);
  });
});

describe('a cache whose folders, manifests or blobs another user could have written', () => {
  // The top at 0711 (others may pass, not list or write), the folders in it
  // writable by all: user nobody could plant entries there.
  it('is not used when a folder in it may be written by others; the command runs', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    chmodSync(box.cacheDir, 0o711);
    chmodSync(join(box.cacheDir, 'entries'), 0o777);
    chmodSync(join(box.cacheDir, 'blobs'), 0o777);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toBe(
      `dcache: cannot use the cache directory ${box.cacheDir} (others may write to ${join(box.cacheDir, 'entries')} (mode 777)); running without the cache\n`,
    );
  });

  it('ignores, with one line, a manifest owned by another user, and replaces it', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    const [path] = manifests(box.cacheDir);
    chownSync(path!, NOBODY, NOBODY);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toBe(`dcache: ignored the cache entry: ${path} belongs to another user (uid ${NOBODY}); running the command\n`);
    // the run's own entry took its place, and is a hit
    expect(statSync(path!).uid).toBe(process.getuid!());
    expect(box.dcache(['run', '--', script.path]).stderr).toBe('');
    expect(script.runs()).toBe(2);
  });

  it('ignores a manifest that others may write (mode 0666), even with -q', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    const [path] = manifests(box.cacheDir);
    chmodSync(path!, 0o666);
    const r = box.dcache(['run', '-q', '--', script.path]);
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toBe(`dcache: ignored the cache entry: others may write to ${path} (mode 666); running the command\n`);
  });

  it('does not replay a blob owned by another user, and stores its own in its place', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    box.dcache(['run', '--', script.path]);
    const blob = join(box.cacheDir, 'blobs', onlyEntry(box.cacheDir).stdout!.hash.slice(0, 2), onlyEntry(box.cacheDir).stdout!.hash);
    chownSync(blob, NOBODY, NOBODY);
    const r = box.dcache(['run', '--', script.path]);
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toContain(`belongs to another user (uid ${NOBODY})`);
    expect(statSync(blob).uid).toBe(process.getuid!());
    expect(box.dcache(['run', '--', script.path]).stdout.toString()).toBe('fetched\n');
    expect(script.runs()).toBe(2);
  });

  it('does not read a shared directory remote entry owned by another user', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    const args = ['run', '--remote', remote(box), '--', script.path];
    machine(box, 'a').run(args);
    for (const file of listFiles(box.path('team-cache', 'entries'))) chownSync(file, NOBODY, NOBODY);
    const r = machine(box, 'b').run(args);
    expect(r.code).toBe(0);
    expect(script.runs()).toBe(2);
    expect(plain(r.stderr)).toMatch(/^dcache: the remote cache file:\/\/.* failed \(.*belongs to another user \(uid 65534\)\); going on without it\n$/);
  });
});

describe('modes from a remote', () => {
  it('are restored under the umask, setuid and setgid dropped', ({ box }) => {
    const script = box.counter('make.sh', 'mkdir -p o/d && echo x > o/d/f && chmod 1777 o/d && chmod 6777 o/d/f; echo done');
    machine(box, 'a').run(['run', '--remote', remote(box), '-o', 'o', '--', script.path]);
    const b = box.shell(`rm -rf o && umask 027 && exec $DCACHE run --remote ${remote(box)} -o o -- ${script.path}`, { env: { DCACHE_DIR: box.path('cache-b') } });
    expect(b.code).toBe(0);
    expect(script.runs()).toBe(1);
    expect((statSync(box.path('o', 'd')).mode & 0o7777).toString(8)).toBe('1750');
    expect((statSync(box.path('o', 'd', 'f')).mode & 0o7777).toString(8)).toBe('750');
  });

  it('are restored as recorded, but for setuid and setgid, from an entry recorded here', ({ box }) => {
    const script = box.counter('make.sh', 'mkdir -p o && echo x > o/f && chmod 777 o/f; echo done');
    box.dcache(['run', '-o', 'o', '--', script.path]);
    const r = box.shell(`rm -rf o && umask 077 && exec $DCACHE run -o o -- ${script.path}`);
    expect(r.code).toBe(0);
    expect(script.runs()).toBe(1);
    expect((statSync(box.path('o', 'f')).mode & 0o777).toString(8)).toBe('777');
  });
});

describe('a cache directory that cannot be made', () => {
  it('under /proc/self is one line and a run without the cache, not a loop', ({ box }) => {
    const r = dcacheWithin(box, 20_000, ['run', '--dir', '/proc/self/x', '--', 'echo', 'hi']);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toMatch(/^dcache: cannot use the cache directory \/proc\/self\/x \(.*\); running without the cache\n$/);
  });

  it('gives ls and gc one line too', ({ box }) => {
    mkdirSync(box.path('x'));
    for (const command of [['ls'], ['gc'], ['stats']]) {
      const r = dcacheWithin(box, 20_000, [...command, '--dir', '/proc/self/x']);
      expect(r.signal).toBeNull();
      expect(r.stderr).not.toMatch(CRASH);
    }
  });
});
