import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { listFiles, onlyEntry } from '../support/cache-files.js';
import { beforeAll, beforeEach, describe, expect, it } from '../support/fixture.js';
import { machine, numberedReport, twoMachines } from '../support/machines.js';
import { plain } from '../support/messages.js';
import { type Backend, dropInlineCopies, type RedisBackend, remoteServers } from '../support/remotes.js';
import type { Sandbox } from '../support/sandbox.js';

// Remote data is untrusted: whatever fails verification on its way down is
// a miss (the command runs, its own output is shown, nothing bad is
// replayed), and a remote manifest gets the same restore path checks as a
// local one.

const servers = remoteServers();
let redis: RedisBackend;
beforeAll(() => void ({ redis } = servers.started()));

// Two machines that share the remote.
const { a, b } = twoMachines();

const report = numberedReport;

// The only dcache line on stderr, or a description of what is there instead.
function oneWarning(stderr: string): string {
  const lines = plain(stderr).split('\n').filter(Boolean);
  return lines.length === 1 && lines[0]!.startsWith('dcache: ') ? lines[0]! : `not one dcache line: ${JSON.stringify(stderr)}`;
}

// A script whose output is the same on every run: a rerun stores the same blob.
const steady = (box: Sandbox) => box.counter('steady.sh', "echo 'the same report'");

// Breaking a blob depends on how each backend stores it: these run on each.
describe.each(servers.backends)('a tampered blob on %s', (_name, backendOf) => {
  let backend: Backend;
  beforeEach(async () => {
    backend = backendOf();
    await backend.reset();
  });
  const run = (script: { path: string }, ...options: string[]) => ['run', '--remote', backend.url(), ...options, '--', script.path];

  // Machine A records; returns its entry as stored.
  // (the blobs travel only as blobs: see dropInlineCopies)
  const recordOnA = async (script: { path: string }, ...options: string[]) => {
    const recorded = a.run(run(script, ...options));
    if (recorded.code !== 0 || recorded.stderr !== '') throw new Error(`machine A did not record cleanly: ${JSON.stringify({ ...recorded, stdout: recorded.stdout.toString() })}`);
    const entry = onlyEntry(a.cacheDir);
    await dropInlineCopies(backend, entry.key);
    return entry;
  };

  it('is a miss on machine B when it has the right size and the wrong bytes', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await backend.setBlob(entry.stdout!.hash, Buffer.from('REPORT 9\n'));
    const ran = b.run(run(script));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(ran.code).toBe(0);
  });

  it('is a miss on machine B when it is truncated', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await backend.setBlob(entry.stdout!.hash, Buffer.from('repo'));
    const ran = b.run(run(script));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(ran.code).toBe(0);
  });

  it('is a miss on machine B when it is longer than recorded', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await backend.setBlob(entry.stdout!.hash, Buffer.from('report 1\nand a tail the manifest does not know\n'));
    const ran = b.run(run(script));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(ran.code).toBe(0);
  });

  it('is a miss on machine B when it is missing', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await backend.dropBlob(entry.stdout!.hash);
    const ran = b.run(run(script));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(ran.code).toBe(0);
  });

  it('is uploaded again with machine B’s run when it was missing, so machine C replays', async ({ box }) => {
    const script = steady(box);
    const entry = await recordOnA(script);
    await backend.dropBlob(entry.stdout!.hash);
    b.run(run(script));
    const replayed = machine(box, 'c').run(run(script));
    expect(script.runs()).toBe(2);
    expect(replayed.stdout.toString()).toBe('the same report\n');
  });

  it('is replaced with machine B’s good copy when it was corrupt, so machine C replays', async ({ box }) => {
    const script = steady(box);
    const entry = await recordOnA(script);
    await backend.setBlob(entry.stdout!.hash, Buffer.from('THE SAME REPORT\n'));
    b.run(run(script));
    const replayed = machine(box, 'c').run(run(script));
    expect(script.runs()).toBe(2);
    expect(replayed.stdout.toString()).toBe('the same report\n');
    expect(replayed.stderr).toBe('');
  });
});

// Verification itself does not depend on the backend: these run on Redis.
describe('a tampered remote entry', () => {
  beforeEach(async () => {
    await redis.reset();
  });
  const run = (script: { path: string }, ...options: string[]) => ['run', '--remote', redis.url(), ...options, '--', script.path];
  // (the blobs travel only as blobs: see dropInlineCopies)
  const recordOnA = async (script: { path: string }, ...options: string[]) => {
    const recorded = a.run(run(script, ...options));
    if (recorded.code !== 0 || recorded.stderr !== '') throw new Error(`machine A did not record cleanly: ${JSON.stringify({ ...recorded, stdout: recorded.stdout.toString() })}`);
    const entry = onlyEntry(a.cacheDir);
    await dropInlineCopies(redis, entry.key);
    return entry;
  };

  it('makes machine B warn once when a blob fails verification', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await redis.setBlob(entry.stdout!.hash, Buffer.from('REPORT 9\n'));
    const ran = b.run(run(script));
    expect(oneWarning(ran.stderr)).toMatch(/^dcache: .*redis:\/\/127\.0\.0\.1:\d+/);
  });

  it('leaves no corrupt blob in machine B’s cache', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await redis.setBlob(entry.stdout!.hash, Buffer.from('REPORT 9\n'));
    b.run(run(script));
    const kept = listFiles(join(b.cacheDir, 'blobs')).filter((f) => readFileSync(f, 'utf8') === 'REPORT 9\n');
    expect(kept).toEqual([]);
  });

  it('leaves no temp file in machine B’s cache after a blob fails verification', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await redis.setBlob(entry.stdout!.hash, Buffer.from('REPORT 9\n'));
    b.run(run(script));
    expect(listFiles(join(b.cacheDir, 'tmp'))).toEqual([]);
  });

  it('is a miss on machine B when an output file’s blob is corrupt', async ({ box }) => {
    const script = box.counter('export.sh', "printf 'id,amount\\n1,42\\n' > export.csv");
    const entry = await recordOnA(script, '-o', 'export.csv');
    rmSync(box.path('export.csv'));
    await redis.setBlob(entry.outputs[0]!.blob!.hash, Buffer.from('id,amount\n1,99\n'));
    b.run(run(script, '-o', 'export.csv'));
    expect(script.runs()).toBe(2);
    expect(readFileSync(box.path('export.csv'), 'utf8')).toBe('id,amount\n1,42\n');
  });

  it('is a miss on machine B when the manifest is garbled', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    await redis.setManifest(entry.key, Buffer.from('{"format":1,"key":'));
    const ran = b.run(run(script));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report 2\n');
    expect(ran.code).toBe(0);
  });

  it('is a miss on machine B when the manifest is another command’s', async ({ box }) => {
    const script = report(box);
    const entry = await recordOnA(script);
    const forged = { ...entry, material: { ...(entry.material as object), argv: ['/bin/echo', 'something else'] } };
    await redis.setManifest(entry.key, Buffer.from(JSON.stringify(forged)));
    const ran = b.run(run(script));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('report 2\n');
  });

  describe('restore path checks', () => {
    it('refuse a remote manifest whose output path climbs out of the working directory', async ({ box }) => {
      const script = box.counter('export.sh', "printf 'id\\n' > export.csv");
      const entry = await recordOnA(script, '-o', 'export.csv');
      const escaped = `${basename(box.root)}-escaped.csv`;
      const forged = { ...entry, outputs: entry.outputs.map((o) => ({ ...o, path: `../${escaped}` })) };
      await redis.setManifest(entry.key, Buffer.from(JSON.stringify(forged)));
      try {
        b.run(run(script, '-o', 'export.csv'));
        expect(existsSync(join(box.root, '..', escaped))).toBe(false);
      } finally {
        rmSync(join(box.root, '..', escaped), { force: true });
      }
    });

    it('refuse a remote manifest whose output path is absolute', async ({ box }) => {
      const script = box.counter('export.sh', "printf 'id\\n' > export.csv");
      const entry = await recordOnA(script, '-o', 'export.csv');
      const outside = mkdtempSync(join(tmpdir(), 'dcache-outside-'));
      try {
        const forged = { ...entry, outputs: entry.outputs.map((o) => ({ ...o, path: join(outside, 'planted.csv') })) };
        await redis.setManifest(entry.key, Buffer.from(JSON.stringify(forged)));
        b.run(run(script, '-o', 'export.csv'));
        expect(readdirSync(outside)).toEqual([]);
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    });

    it('refuse a remote manifest that would write through a symlink it restores', async ({ box }) => {
      const script = box.counter('dir.sh', "mkdir -p out && printf 'x\\n' > out/data.txt");
      const entry = await recordOnA(script, '-o', 'out');
      rmSync(box.path('out'), { recursive: true });
      const outside = mkdtempSync(join(tmpdir(), 'dcache-outside-'));
      try {
        const file = entry.outputs.find((o) => o.type === 'file')!;
        const forged = {
          ...entry,
          outputs: [
            { path: 'out', type: 'dir', mode: 0o755 },
            { path: 'out/link', type: 'symlink', target: outside },
            { ...file, path: 'out/link/planted.txt' },
          ],
        };
        await redis.setManifest(entry.key, Buffer.from(JSON.stringify(forged)));
        b.run(run(script, '-o', 'out'));
        expect(readdirSync(outside)).toEqual([]);
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    });

    it('run the command on machine B, with one warning, after refusing an unsafe remote manifest', async ({ box }) => {
      const script = box.counter('export.sh', "printf 'id\\n' > export.csv");
      const entry = await recordOnA(script, '-o', 'export.csv');
      const forged = { ...entry, outputs: entry.outputs.map((o) => ({ ...o, path: '../elsewhere.csv' })) };
      await redis.setManifest(entry.key, Buffer.from(JSON.stringify(forged)));
      const ran = b.run(run(script, '-o', 'export.csv'));
      expect(script.runs()).toBe(2);
      expect(ran.code).toBe(0);
      expect(oneWarning(ran.stderr)).toMatch(/^dcache: refused a cache entry that would write '\.\.\/elsewhere\.csv'/);
    });
  });
});

// A remote entry's fingerprints of watched files come from another machine:
// its size and mtime say nothing about the file here, only its content does.
describe('a watched file on machine B', () => {
  beforeEach(async () => {
    await redis.reset();
  });
  const runOnRedis = (script: { path: string }, ...options: string[]) => ['run', '--remote', redis.url(), ...options, '--', script.path];

  it('decides by its content, not by a size and mtime that match machine A’s file', ({ box }) => {
    const input = box.path('input.txt');
    const script = box.counter('read.sh', `cat '${input}'`);
    const sameTime = new Date('2020-01-01T00:00:00Z');
    writeFileSync(input, 'from machine A\n');
    utimesSync(input, sameTime, sameTime);
    a.run(runOnRedis(script, '-p', 'forever', '-w', 'input.txt'));
    writeFileSync(input, 'from machine B\n');
    utimesSync(input, sameTime, sameTime);
    const ran = b.run(runOnRedis(script, '-p', 'forever', '-w', 'input.txt'));
    expect(script.runs()).toBe(2);
    expect(ran.stdout.toString()).toBe('from machine B\n');
  });
});
