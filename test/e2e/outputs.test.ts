import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { listFiles } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { expectOneLineRefusal, plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

describe('output files are restored on a hit', () => {
  it('restores a deleted file and a nested directory byte-exact without running the command', ({ box }) => {
    writeFileSync(box.path('source.bin'), everyByte(4));
    const gen = box.counter(
      'gen.sh',
      "cp source.bin report.bin; mkdir -p out/nested/deeper; printf 'a\\000b' > out/top.txt; printf 'deep\\377' > out/nested/deeper/leaf.bin; : > out/nested/empty; mkdir out/void",
    );
    const first = box.dcache(['run', '-o', 'report.bin', '-o', 'out', '--', gen.path]);
    const recorded = { report: snapshot(box.path('report.bin')), out: snapshot(box.path('out')) };
    rmSync(box.path('report.bin'));
    rmSync(box.path('out'), { recursive: true });
    const hit = box.dcache(['run', '-o', 'report.bin', '-o', 'out', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    for (const r of [first, hit]) {
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toBe('');
    }
    expect(snapshot(box.path('report.bin'))).toEqual(recorded.report);
    expect(snapshot(box.path('out'))).toEqual(recorded.out);
    expect(readFileSync(box.path('report.bin')).equals(everyByte(4))).toBe(true);
    expect(Object.keys(recorded.out).sort()).toEqual([
      '.',
      'nested',
      'nested/deeper',
      'nested/deeper/leaf.bin',
      'nested/empty',
      'top.txt',
      'void',
    ]);
  });

  it('keeps the modes of a 0640 file, a 0755 script and a 0750 directory', ({ box }) => {
    const gen = box.counter(
      'gen.sh',
      'mkdir -p out; echo secret > out/private.csv; chmod 0640 out/private.csv; ' +
        'printf "#!/bin/sh\\n" > out/tool.sh; chmod 0755 out/tool.sh; chmod 0750 out; ' +
        'echo solo > solo.txt; chmod 0640 solo.txt',
    );
    box.dcache(['run', '-o', 'out', '-o', 'solo.txt', '--', gen.path]);
    rmSync(box.path('out'), { recursive: true });
    rmSync(box.path('solo.txt'));
    // A restrictive umask must not change the recorded modes.
    const hit = box.shell(`umask 077; $DCACHE run -o out -o solo.txt -- '${gen.path}'`);
    expect(hit.code).toBe(0);
    expect(hit.stderr).toBe('');
    expect(gen.runs()).toBe(1);
    expect(modeOf(box, 'out')).toBe(0o750);
    expect(modeOf(box, 'out/private.csv')).toBe(0o640);
    expect(modeOf(box, 'out/tool.sh')).toBe(0o755);
    expect(modeOf(box, 'solo.txt')).toBe(0o640);
  });

  it('replaces a file that is already there with the recorded bytes', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo recorded > data.csv');
    box.dcache(['run', '-o', 'data.csv', '--', gen.path]);
    writeFileSync(box.path('data.csv'), 'a local edit that is longer than the recorded content\n');
    const hit = box.dcache(['run', '-o', 'data.csv', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(readFileSync(box.path('data.csv'), 'utf8')).toBe('recorded\n');
  });

  it('replaces a symlink that is already there instead of writing through it', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo recorded > data.csv');
    box.dcache(['run', '-o', 'data.csv', '--', gen.path]);
    rmSync(box.path('data.csv'));
    writeFileSync(box.path('victim.txt'), 'untouched\n');
    symlinkSync('victim.txt', box.path('data.csv'));
    const hit = box.dcache(['run', '-o', 'data.csv', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(lstatSync(box.path('data.csv')).isFile()).toBe(true);
    expect(readFileSync(box.path('data.csv'), 'utf8')).toBe('recorded\n');
    expect(readFileSync(box.path('victim.txt'), 'utf8')).toBe('untouched\n');
  });

  it('leaves alone the files in a declared directory that the entry does not hold', ({ box }) => {
    const gen = box.counter('gen.sh', 'mkdir -p out; echo one > out/one.txt');
    box.dcache(['run', '-o', 'out', '--', gen.path]);
    writeFileSync(box.path('out/one.txt'), 'changed\n');
    writeFileSync(box.path('out/extra.txt'), 'mine\n');
    const hit = box.dcache(['run', '-o', 'out', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(readFileSync(box.path('out/one.txt'), 'utf8')).toBe('one\n');
    expect(readFileSync(box.path('out/extra.txt'), 'utf8')).toBe('mine\n');
  });

  it('writes each file to a temp name and renames it into place, leaving no temp file', ({ box }) => {
    const gen = box.counter('gen.sh', 'mkdir -p out; echo recorded > out/data.csv');
    box.dcache(['run', '-o', 'out', '--', gen.path]);
    writeFileSync(box.path('out/data.csv'), 'old\n');
    // A hard link shares the inode: an in-place rewrite would show through it, a rename does not.
    linkSync(box.path('out/data.csv'), box.path('old-link.csv'));
    const inodeBefore = statSync(box.path('out/data.csv')).ino;
    const hit = box.dcache(['run', '-o', 'out', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(readFileSync(box.path('out/data.csv'), 'utf8')).toBe('recorded\n');
    expect(readFileSync(box.path('old-link.csv'), 'utf8')).toBe('old\n');
    expect(statSync(box.path('out/data.csv')).ino).not.toBe(inodeBefore);
    expect(tempFilesUnder(box.root)).toEqual([]);
  });

  it('leaves no temp file behind when an output cannot be restored', ({ box }) => {
    const gen = box.counter('gen.sh', 'ln -sfn target.txt link; echo target > target.txt');
    box.dcache(['run', '-o', 'link', '--', gen.path]);
    // A directory where the entry has a symlink: the restore fails and the command runs.
    rmSync(box.path('link'));
    mkdirSync(box.path('link'));
    writeFileSync(box.path('link/keep.txt'), 'keep\n');
    const r = box.dcache(['run', '-o', 'link', '--', gen.path]);
    expect(gen.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toMatch(/^dcache: cannot restore the output files \(.*\); running the command\n$/);
    expect(tempFilesUnder(box.root)).toEqual([]);
  });
  it('restores a file whose name contains a backslash', ({ box }) => {
    const gen = box.counter('gen.sh', 'mkdir -p out; echo x > "out/c\\\\d.txt"');
    box.dcache(['run', '-o', 'out', '--', gen.path]);
    expect(readdirSync(box.path('out'))).toEqual(['c\\d.txt']);
    rmSync(box.path('out'), { recursive: true });
    const hit = box.dcache(['run', '-o', 'out', '--', gen.path]);
    expect(hit.stderr).toBe('');
    expect(gen.runs()).toBe(1);
    expect(readFileSync(box.path('out', 'c\\d.txt'), 'utf8')).toBe('x\n');
  });

  it('treats an output blob altered on disk as a miss, and never writes its bytes', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo recorded-bytes > data.csv');
    box.dcache(['run', '-o', 'data.csv', '--', gen.path]);
    const blobs = listFiles(join(box.cacheDir, 'blobs'));
    expect(blobs).toHaveLength(1);
    writeFileSync(blobs[0]!, 'RECORDED-BYTES\n');
    rmSync(box.path('data.csv'));
    const r = box.dcache(['run', '-o', 'data.csv', '--', gen.path]);
    expect(gen.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toMatch(/^dcache: dropped a bad cache entry \(blob [0-9a-f]{16} does not match its hash\); running the command\n$/);
    expect(readFileSync(box.path('data.csv'), 'utf8')).toBe('recorded-bytes\n');
    expect(tempFilesUnder(box.root)).toEqual([]);
  });
});

describe('symlink outputs', () => {
  it('records a symlink as a symlink and restores it with the same target', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo target > target.txt; ln -sfn target.txt link; ln -sfn does-not-exist dangling');
    box.dcache(['run', '-o', 'link', '-o', 'dangling', '--', gen.path]);
    rmSync(box.path('link'));
    rmSync(box.path('dangling'));
    const hit = box.dcache(['run', '-o', 'link', '-o', 'dangling', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    expect(hit.code).toBe(0);
    expect(hit.stderr).toBe('');
    expect(lstatSync(box.path('link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(box.path('link'))).toBe('target.txt');
    expect(lstatSync(box.path('dangling')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(box.path('dangling'))).toBe('does-not-exist');
  });

  it('does not follow a symlink: the bytes it points to are not stored', ({ box }) => {
    mkdirSync(box.path('elsewhere'));
    writeFileSync(box.path('elsewhere/big.txt'), 'bytes-behind-the-link-3f9a\n');
    const gen = box.counter('gen.sh', 'mkdir -p out; ln -sfn ../elsewhere out/dir-link; echo own > out/own.txt');
    box.dcache(['run', '-o', 'out', '--', gen.path]);
    const stored = listFiles(join(box.cacheDir, 'blobs')).map((f) => readFileSync(f, 'utf8'));
    expect(stored).not.toContain('bytes-behind-the-link-3f9a\n');
    rmSync(box.path('out'), { recursive: true });
    box.dcache(['run', '-o', 'out', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    expect(readlinkSync(box.path('out/dir-link'))).toBe('../elsewhere');
    expect(readFileSync(box.path('out/own.txt'), 'utf8')).toBe('own\n');
  });
});

describe('a declared output that is missing after the run', () => {
  it('passes the output and exit code through, warns once naming it, and records nothing', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo hello; echo note >&2');
    const first = box.dcache(['run', '-o', 'missing.csv', '--', gen.path]);
    expect(first.code).toBe(0);
    expect(first.stdout.toString()).toBe('hello\n');
    expect(plain(first.stderr)).toBe(
      "note\ndcache: declared output 'missing.csv' does not exist after the run; nothing was recorded\n",
    );
    expect(listFiles(join(box.cacheDir, 'entries'))).toEqual([]);
    const second = box.dcache(['run', '-o', 'missing.csv', '--', gen.path]);
    expect(gen.runs()).toBe(2);
    expect(second.stdout.toString()).toBe('hello\n');
  });

  it('names the one that is missing when others exist', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo a > a.csv');
    const r = box.dcache(['run', '-o', 'a.csv', '-o', 'sub/b.csv', '--', gen.path]);
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toBe("dcache: declared output 'sub/b.csv' does not exist after the run; nothing was recorded\n");
  });

  it('records nothing, with a warning, when the output lies outside the tree through a symlink', ({ box }) => {
    mkdirSync(box.path('elsewhere'));
    mkdirSync(box.path('work'));
    symlinkSync(box.path('elsewhere'), box.path('work', 'data'));
    const gen = box.counter('gen.sh', 'echo x > data/raw.csv');
    const r = box.dcache(['run', '-o', 'data/raw.csv', '--', gen.path], { cwd: box.path('work') });
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toBe(
      "dcache: declared output 'data/raw.csv' lies outside the working directory through a symlink; nothing was recorded\n",
    );
    expect(listFiles(join(box.cacheDir, 'entries'))).toEqual([]);
  });

  it('does not warn about it when the command fails', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo partial; exit 3');
    const r = box.dcache(['run', '-o', 'missing.csv', '--', gen.path]);
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe('partial\n');
    expect(r.stderr).toBe('');
  });
});

describe('failures with --cache-failures', () => {
  it('replays stdout, stderr and the exit code, but neither captures nor restores the outputs', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo partial > out.csv; echo out; echo err >&2; exit 3');
    const first = box.dcache(['run', '--cache-failures', '-o', 'out.csv', '--', gen.path]);
    expect(first.code).toBe(3);
    expect(readFileSync(box.path('out.csv'), 'utf8')).toBe('partial\n');
    rmSync(box.path('out.csv'));
    const hit = box.dcache(['run', '--cache-failures', '-o', 'out.csv', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    expect(hit.code).toBe(3);
    expect(hit.stdout.toString()).toBe('out\n');
    expect(hit.stderr).toBe('err\n');
    expect(existsSync(box.path('out.csv'))).toBe(false);
    const [manifest] = listFiles(join(box.cacheDir, 'entries'));
    expect(JSON.parse(readFileSync(manifest!, 'utf8')).outputs).toEqual([]);
  });

  it('records a failure whose declared output is missing, without a warning', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo out; exit 3');
    const first = box.dcache(['run', '--cache-failures', '-o', 'never.csv', '--', gen.path]);
    const hit = box.dcache(['run', '--cache-failures', '-o', 'never.csv', '--', gen.path]);
    expect(gen.runs()).toBe(1);
    for (const r of [first, hit]) {
      expect(r.code).toBe(3);
      expect(r.stdout.toString()).toBe('out\n');
      expect(r.stderr).toBe('');
    }
  });
});

describe('declared outputs and the key', () => {
  it('gives different declared outputs different entries', ({ box }) => {
    const gen = box.counter('gen.sh', 'echo a > a.csv; echo b > b.csv');
    box.dcache(['run', '-o', 'a.csv', '--', gen.path]);
    box.dcache(['run', '-o', 'b.csv', '--', gen.path]);
    expect(gen.runs()).toBe(2);
    box.dcache(['run', '-o', 'a.csv', '--', gen.path]);
    expect(gen.runs()).toBe(2);
    expect(listFiles(join(box.cacheDir, 'entries'))).toHaveLength(2);
  });

  it('treats a declared output the same however it is spelled or ordered', ({ box }) => {
    const gen = box.counter('gen.sh', 'mkdir -p out; echo a > a.csv; echo b > out/b.csv');
    box.dcache(['run', '-o', 'a.csv', '-o', 'out', '--', gen.path]);
    box.dcache(['run', '-o', 'out/', '-o', './a.csv', '--', gen.path]);
    box.dcache(['run', '-o', box.path('a.csv'), '-o', 'out/../out', '--', gen.path]);
    expect(gen.runs()).toBe(1);
  });
});

describe('bad output paths', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['an absolute path outside the working directory', '/etc/passwd', /--output '\/etc\/passwd' is not inside the working directory/],
    ['a path that climbs out with ..', '../x', /--output '\.\.\/x' is not inside the working directory/],
    ['an empty path', '', /--output '' is empty/],
    ['the working directory itself', '.', /--output '\.' is not inside the working directory/],
  ];
  for (const [what, path, message] of cases) {
    it(`exits 125 with one line naming ${what}, and does not run the command`, ({ box }) => {
      const gen = box.counter('gen.sh', 'echo data > data.csv');
      const r = box.dcache(['run', '-o', path, '--', gen.path]);
      expectOneLineRefusal(r, 125, message);
      expect(gen.runs()).toBe(0);
    });
  }
});

describe('identical content is stored once', () => {
  it('stores the same 1 MB written by two different commands once', ({ box }) => {
    const mib = 1 << 20;
    writeFileSync(box.path('source.bin'), everyByte(mib / 256));
    const one = box.counter('one.sh', 'cp source.bin one.bin');
    const two = box.counter('two.sh', 'cp source.bin two.bin');
    box.dcache(['run', '-o', 'one.bin', '--', one.path]);
    const afterOne = blobBytes(box);
    box.dcache(['run', '-o', 'two.bin', '--', two.path]);
    const afterTwo = blobBytes(box);
    expect(one.runs() + two.runs()).toBe(2);
    expect(listFiles(join(box.cacheDir, 'entries'))).toHaveLength(2);
    expect(afterOne).toBe(mib);
    expect(afterTwo).toBe(mib);
  });
});

describe('a tampered manifest', () => {
  // Each case records an entry from work/, then rewrites only the entry's
  // `outputs` (the key material, compared on read, stays as recorded).
  const cases: Array<{
    what: string;
    declared: string;
    body: string;
    named: string;
    escape: string;
    // `box` is the test's sandbox
    tamper: (outputs: OutputRecord[], box: Sandbox) => OutputRecord[];
  }> = [
    {
      what: "a path with '..' that leaves the working directory",
      declared: 'data.csv',
      body: 'echo fresh > data.csv',
      named: '../escape.txt',
      escape: 'escape.txt',
      tamper: (outputs) => outputs.map((o) => ({ ...o, path: '../escape.txt' })),
    },
    {
      what: 'an absolute path',
      declared: 'data.csv',
      body: 'echo fresh > data.csv',
      named: '<root>/absolute.txt',
      escape: 'absolute.txt',
      tamper: (outputs, box) => outputs.map((o) => ({ ...o, path: box.path('absolute.txt') })),
    },
    {
      what: 'a path outside the declared outputs',
      declared: 'data.csv',
      body: 'echo fresh > data.csv',
      named: 'other.txt',
      escape: 'work/other.txt',
      tamper: (outputs) => outputs.map((o) => ({ ...o, path: 'other.txt' })),
    },
    {
      what: 'a file under a recorded symlink to a directory outside the tree',
      declared: 'out',
      body: 'mkdir -p out; echo fresh > out/data.csv',
      named: 'out/sub/evil.txt',
      escape: 'outside/evil.txt',
      tamper: (outputs, box) => [
        ...outputs.filter((o) => o.type === 'dir'),
        { path: 'out/sub', type: 'symlink', target: box.path('outside') },
        { ...outputs.find((o) => o.type === 'file')!, path: 'out/sub/evil.txt' },
      ],
    },
    {
      what: 'a file under a recorded relative symlink that climbs out of the tree',
      declared: 'out',
      body: 'mkdir -p out; echo fresh > out/data.csv',
      named: 'out/sub/evil.txt',
      escape: 'outside/evil.txt',
      tamper: (outputs) => [
        ...outputs.filter((o) => o.type === 'dir'),
        { path: 'out/sub', type: 'symlink', target: '../../outside' },
        { ...outputs.find((o) => o.type === 'file')!, path: 'out/sub/evil.txt' },
      ],
    },
    {
      what: 'a declared directory recorded as a symlink out of the tree, with a file under it',
      declared: 'out',
      body: 'mkdir -p out; echo fresh > out/data.csv',
      named: 'out/evil.txt',
      escape: 'outside/evil.txt',
      tamper: (outputs, box) => [
        { path: 'out', type: 'symlink', target: box.path('outside') },
        { ...outputs.find((o) => o.type === 'file')!, path: 'out/evil.txt' },
      ],
    },
  ];
  for (const c of cases) {
    it(`is refused with a warning when it names ${c.what}, and the command runs`, ({ box }) => {
      const { gen, run } = tamperedEntry(box, c.declared, c.body, c.tamper);
      const r = run();
      expect(gen.runs()).toBe(2);
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBe(0);
      // (a path through a link is judged where the link leads)
      const why = c.escape.startsWith('outside/')
        ? `whose output '${c.named}' has a folder that leads out of the working directory`
        : `that would write '${c.named.replace('<root>', box.root)}' outside the declared outputs or the working directory`;
      expect(plain(r.stderr)).toBe(`dcache: refused a cache entry ${why}; running the command\n`);
      expect(existsSync(box.path(c.escape))).toBe(false);
      // Nor does the command, which runs in whatever tree the refused restore left behind.
      expect(readdirSync(box.path('outside'))).toEqual([]);
    });
  }

  it('writes nothing outside the tree when a recorded symlink leads to a directory that does not exist', ({ box }) => {
    const { gen, run } = tamperedEntry(box, 'out', 'mkdir -p out; echo fresh > out/data.csv', (outputs) => [
      ...outputs.filter((o) => o.type === 'dir'),
      { path: 'out/sub', type: 'symlink', target: box.path('outside', 'not-yet') },
      { ...outputs.find((o) => o.type === 'file')!, path: 'out/sub/evil.txt' },
    ]);
    const r = run();
    expect(gen.runs()).toBe(2);
    expect(r.code).toBe(0);
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^dcache: .*; running the command$/);
    expect(readdirSync(box.path('outside'))).toEqual([]);
  });

  it('writes nothing of a refused entry into the working directory', ({ box }) => {
    const { run } = tamperedEntry(box, 'out', 'mkdir -p out; echo fresh > out/data.csv', (outputs) => [
      ...outputs.filter((o) => o.type === 'dir'),
      { path: 'out/sub', type: 'symlink', target: box.path('outside') },
      { ...outputs.find((o) => o.type === 'file')!, path: 'out/sub/evil.txt' },
    ]);
    run();
    // The command does not create out/sub; only a partly replayed entry would.
    expect(existsOrLink(box.path('work/out/sub'))).toBe(false);
  });

  it('is dropped, and the next call replays the fresh recording', ({ box }) => {
    const { gen, run } = tamperedEntry(box, 'data.csv', 'echo fresh > data.csv', (outputs) =>
      outputs.map((o) => ({ ...o, path: '../escape.txt' })),
    );
    run();
    rmSync(box.path('work/data.csv'));
    const hit = run();
    expect(gen.runs()).toBe(2);
    expect(hit.stderr).toBe('');
    expect(readFileSync(box.path('work/data.csv'), 'utf8')).toBe('fresh\n');
    expect(existsSync(box.path('escape.txt'))).toBe(false);
  });
});

describe('large output files', () => {
  it('captures and restores a 1 GB file with peak memory under 100 MB', ({ box }) => {
    const size = 1024 * 1024 * 1024;
    // The generator stamps each 1 MiB block with its index, so a block out of place shows in the checksum.
    writeFileSync(
      box.path('gen.mjs'),
      [
        "import { closeSync, openSync, writeSync } from 'node:fs';",
        'const block = Buffer.alloc(1 << 20);',
        'for (let i = 0; i < block.length; i++) block[i] = (i * 7 + (i >> 11)) & 0xff;',
        "const fd = openSync(process.argv[2], 'w');",
        `for (let n = 0; n < ${size / (1 << 20)}; n++) {`,
        '  block.writeUInt32BE(n, 0);',
        '  for (let off = 0; off < block.length; ) off += writeSync(fd, block, off);',
        '}',
        'closeSync(fd);',
      ].join('\n'),
    );
    const gen = box.counter('gen.sh', `'${process.execPath}' gen.mjs big.bin`);
    const measure = (label: string) => {
      const r = box.shell(`/usr/bin/time -f %M -o '${label}.rss' $DCACHE run -o big.bin -- '${gen.path}'`);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      return Number(readFileSync(box.path(`${label}.rss`), 'utf8').trim().split('\n').pop());
    };
    const recordKib = measure('record');
    const expected = box.shell('cksum < big.bin').stdout.toString();
    expect(statSync(box.path('big.bin')).size).toBe(size);
    rmSync(box.path('big.bin'));
    const restoreKib = measure('restore');
    expect(gen.runs()).toBe(1);
    expect(box.shell('cksum < big.bin').stdout.toString()).toBe(expected);
    expect(recordKib).toBeLessThan(100 * 1024);
    expect(restoreKib).toBeLessThan(100 * 1024);
    expect(blobBytes(box)).toBe(size);
  });
});

type OutputRecord = { path: string; type: 'file' | 'dir' | 'symlink'; [field: string]: unknown };

// Records an entry from work/ with `-o declared`, rewrites its outputs with
// `tamper`, and returns a function that runs the same call again.
function tamperedEntry(box: Sandbox, declared: string, body: string, tamper: (outputs: OutputRecord[], box: Sandbox) => OutputRecord[]) {
  mkdirSync(box.path('work'));
  mkdirSync(box.path('outside'));
  const gen = box.counter('gen.sh', body);
  const run = () => box.dcache(['run', '-o', declared, '--', gen.path], { cwd: box.path('work') });
  const first = run();
  expect(first.code).toBe(0);
  const manifests = listFiles(join(box.cacheDir, 'entries'));
  expect(manifests).toHaveLength(1);
  const manifest = JSON.parse(readFileSync(manifests[0]!, 'utf8')) as { outputs: OutputRecord[] };
  manifest.outputs = tamper(manifest.outputs, box);
  writeFileSync(manifests[0]!, JSON.stringify(manifest));
  rmSync(box.path('work', declared), { recursive: true });
  return { gen, run };
}

type Snapshot = Record<string, { type: 'file'; mode: number; bytes: string } | { type: 'dir'; mode: number } | { type: 'symlink'; target: string }>;

// Every entry under `path` (itself as '.'): its type, mode and bytes or link target.
function snapshot(path: string): Snapshot {
  const result: Snapshot = {};
  const visit = (rel: string) => {
    const abs = rel === '.' ? path : join(path, rel);
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) {
      result[rel] = { type: 'symlink', target: readlinkSync(abs) };
    } else if (st.isDirectory()) {
      result[rel] = { type: 'dir', mode: st.mode & 0o7777 };
      for (const name of readdirSync(abs)) visit(rel === '.' ? name : `${rel}/${name}`);
    } else {
      result[rel] = { type: 'file', mode: st.mode & 0o7777, bytes: readFileSync(abs).toString('base64') };
    }
  };
  visit('.');
  return result;
}

// `repeat` copies of the 256 byte values in order.
function everyByte(repeat: number): Buffer {
  const bytes = Buffer.alloc(256 * repeat);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
  return bytes;
}

function modeOf(box: Sandbox, rel: string): number {
  return lstatSync(box.path(rel)).mode & 0o7777;
}

function existsOrLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function blobBytes(box: Sandbox): number {
  return listFiles(join(box.cacheDir, 'blobs')).reduce((n, f) => n + statSync(f).size, 0);
}

// Names of dcache's restore temp files anywhere under `dir`, outside the cache.
function tempFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => /\.dcache-.*\.tmp$/.test(d.name))
    .map((d) => join(d.parentPath, d.name));
}

