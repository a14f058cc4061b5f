import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { listFiles } from '../support/cache-files.js';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '../support/fixture.js';
import { machine } from '../support/machines.js';
import { CRASH, plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// A symlink of an entry that came from a remote is judged as the kernel
// resolves it once the whole entry is in place: through the entry's own
// links and those already in the tree, '..' taken from where the
// resolution is. An entry with any link that leaves the working directory
// (at any step) is refused whole, with one line, and the command runs.
//
// Machine A records o/data.txt and shares it through a shared directory;
// the test then adds link records to the shared manifest, as a writer of
// the remote could. Machine B's command makes no link: whatever link B's
// tree holds afterwards, the cache put there.

const remote = (box: Sandbox) => pathToFileURL(box.path('team-cache')).toString();

type Link = { path: string; target: string };

// Records o/data.txt on machine A, adds `links` to the shared entry, and
// empties the working tree's o/ for machine B.
function plantLinks(box: Sandbox, links: Link[], before: (o: string) => void = () => {}) {
  const script = box.counter('make-o.sh', 'mkdir -p o && echo data > o/data.txt; echo done');
  const a = machine(box, 'a').run(['run', '--remote', remote(box), '-o', 'o', '--', script.path]);
  if (a.code !== 0) throw new Error(`machine A failed: ${a.stderr}`);
  const [path] = listFiles(box.path('team-cache', 'entries'));
  const manifest = JSON.parse(readFileSync(path!, 'utf8')) as { outputs: unknown[] };
  manifest.outputs.push(...links.map((l) => ({ path: `o/${l.path}`, type: 'symlink', target: l.target })));
  writeFileSync(path!, JSON.stringify(manifest));
  rmSync(box.path('o'), { recursive: true });
  before(box.path('o'));
  return { script, b: () => machine(box, 'b').run(['run', '--remote', remote(box), '-o', 'o', '--', script.path]) };
}

const isLink = (path: string) => {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
};

describe.each([
  // o/b -> . and o/cache -> b/../.. : each looks inside as text; o/cache is the working directory's parent
  ['a chain of two links', [{ path: 'b', target: '.' }, { path: 'cache', target: 'b/../..' }], 'cache'],
  ['a chain of twelve steps through one link', [{ path: 'b', target: '.' }, { path: 'cache', target: `${'b/'.repeat(12)}${'../'.repeat(13)}etc` }], 'cache'],
  // o/s/up -> .. (o), then o/s/esc -> up/../.. : as text o, in fact the parent of the working directory
  ['.. after a link', [{ path: 's/up', target: '..' }, { path: 's/esc', target: 'up/../..' }], 's/esc'],
  // o/l1 -> l2, o/l2 -> ../.. : a link to a link that leaves
  ['a link to a link', [{ path: 'l1', target: 'l2' }, { path: 'l2', target: '../..' }], 'l1'],
  // o/abs -> /etc, then o/rel -> abs/passwd
  ['an absolute link made earlier in the same entry', [{ path: 'abs', target: '/etc' }, { path: 'rel', target: 'abs/passwd' }], 'abs'],
] as Array<[string, Link[], string]>)('a remote entry with %s', (_name, links, refused) => {
  it('is refused whole with one line; the command runs, and no link of the entry is made', ({ box }) => {
    const { script, b } = plantLinks(box, links);
    const r = b();
    expect(r.stderr).not.toMatch(CRASH);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('done\n');
    expect(script.runs()).toBe(2);
    const lines = plain(r.stderr).split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const target = links.find((l) => l.path === refused)!.target;
    expect(lines[0]).toBe(`dcache: refused a cache entry whose output 'o/${refused}' is a symlink to '${target}', which leads out of the working directory; running the command`);
    for (const link of links) expect(isLink(box.path('o', link.path))).toBe(false);
    expect(readFileSync(box.path('o', 'data.txt'), 'utf8')).toBe('data\n');
  });
});

describe('a remote entry whose links stay inside', () => {
  it('is replayed with its links, a chain included', ({ box }) => {
    // o/b -> . and o/c -> b/b/data.txt : both resolve inside o/
    const { script, b } = plantLinks(box, [{ path: 'b', target: '.' }, { path: 'c', target: 'b/b/data.txt' }]);
    const r = b();
    expect(r.stderr).toBe('');
    expect(script.runs()).toBe(1);
    expect(readlinkSync(box.path('o', 'c'))).toBe('b/b/data.txt');
    expect(readFileSync(box.path('o', 'c'), 'utf8')).toBe('data\n');
  });

  it('is refused when a link already in the tree turns one of its links outward', ({ box }) => {
    // o/esc -> up/.. is o/ when o/up is a folder; B's tree has o/up -> .. already
    const { b } = plantLinks(box, [{ path: 'esc', target: 'up/..' }], (o) => {
      mkdirSync(o);
      symlinkSync('..', `${o}/up`);
    });
    const r = b();
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toBe("dcache: refused a cache entry whose output 'o/esc' is a symlink to 'up/..', which leads out of the working directory; running the command\n");
    expect(isLink(box.path('o', 'esc'))).toBe(false);
  });
});

// Found by the fuzz harness (seed 11, case 352): a link whose way goes
// through a file of the tree resolves nowhere today (ENOTDIR), and out of
// the working directory once the file is a folder, as the command's next run
// may make it. It is judged as if the file were that folder.
describe('a remote entry whose link goes through a file of the tree, then climbs', () => {
  it('is refused, as it would lead out once the file is a folder', ({ box }) => {
    const { b } = plantLinks(box, [{ path: 'x', target: 'f/sub/../../../../a.txt' }], (o) => {
      mkdirSync(o);
      writeFileSync(`${o}/f`, 'a file, today\n');
    });
    const r = b();
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toBe(
      "dcache: refused a cache entry whose output 'o/x' is a symlink to 'f/sub/../../../../a.txt', which leads out of the working directory; running the command\n",
    );
    expect(isLink(box.path('o', 'x'))).toBe(false);
  });

  it('is replayed when the entry itself makes that file a folder', ({ box }) => {
    const script = box.counter('make-o.sh', 'mkdir -p o/f && echo data > o/f/data.txt; echo done');
    expect(machine(box, 'a').run(['run', '--remote', remote(box), '-o', 'o', '--', script.path]).code).toBe(0);
    rmSync(box.path('o'), { recursive: true });
    // on B, o/f is a file where the entry has a folder
    mkdirSync(box.path('o'));
    writeFileSync(box.path('o', 'f'), 'a file, today\n');
    const r = machine(box, 'b').run(['run', '--remote', remote(box), '-o', 'o', '--', script.path]);
    expect(r.stderr).not.toMatch(CRASH);
    expect(readFileSync(box.path('o', 'f', 'data.txt'), 'utf8')).toBe('data\n');
  });
});

describe('an output path through a link already in the tree', () => {
  it('is refused when the link leads out of the working directory, and nothing is written there', ({ box }) => {
    // the working directory is wd/; elsewhere/ is beside it, outside
    const wd = box.path('wd');
    const elsewhere = box.path('elsewhere');
    mkdirSync(wd);
    mkdirSync(elsewhere);
    const script = box.counter('write.sh', 'if [ "$WRITE" = 1 ]; then mkdir -p out && echo report > out/report.txt; fi; echo done');
    const args = ['run', '--remote', remote(box), '-o', 'out/report.txt', '--', script.path];
    const a = box.dcache(args, { cwd: wd, env: { DCACHE_DIR: box.path('cache-a'), WRITE: '1' } });
    expect(a.code).toBe(0);
    // on B, out is a link to the folder outside
    rmSync(box.path('wd', 'out'), { recursive: true });
    symlinkSync('../elsewhere', box.path('wd', 'out'));
    const r = box.dcache(args, { cwd: wd, env: { DCACHE_DIR: box.path('cache-b') } });
    expect(r.stderr).not.toMatch(CRASH);
    expect(plain(r.stderr)).toContain("refused a cache entry whose output 'out/report.txt' has a folder that leads out of the working directory");
    expect(existsSync(box.path('elsewhere', 'report.txt'))).toBe(false);
  });
});
