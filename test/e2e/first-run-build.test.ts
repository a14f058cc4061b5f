import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '../support/fixture.js';
import { BIN, type Sandbox } from '../support/sandbox.js';

// A clone of the repository has no dist/: its first run builds it with
// scripts/build.js. Here the clone is bin/ as it is, beside a
// stand-in build script that takes a second and a half, counts its runs,
// and writes a dist/cli.cjs that prints a line.
function clone(box: Sandbox, extraBuildLines: string[] = []): { root: string; builds: () => number } {
  const root = box.path('clone');
  for (const dir of ['bin', 'scripts', 'node_modules/esbuild']) mkdirSync(join(root, dir), { recursive: true });
  for (const name of ['dcache.js', 'load-bundle.js']) copyFileSync(join(BIN, '..', name), join(root, 'bin', name));
  const count = join(root, 'builds');
  writeFileSync(
    join(root, 'scripts', 'build.js'),
    [
      "const { appendFileSync, mkdirSync, writeFileSync } = require('node:fs');",
      `appendFileSync(${JSON.stringify(count)}, 'x');`,
      'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);',
      "mkdirSync('dist', { recursive: true });",
      "writeFileSync('dist/cli.cjs', \"process.stdout.write('the built CLI\\\\n');\");",
      ...extraBuildLines,
    ].join('\n'),
  );
  return { root, builds: () => (existsSync(count) ? readFileSync(count, 'utf8').length : 0) };
}

function runAt(root: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'dcache.js')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the first runs in a clone', () => {
  it('build dist/ once when four start together, and all four run what it built', async ({ box }) => {
    const { root, builds } = clone(box);
    const runs = await Promise.all([1, 2, 3, 4].map(() => runAt(root)));
    expect(runs.map((r) => [r.code, r.stdout])).toEqual(Array(4).fill([0, 'the built CLI\n']));
    expect(runs.filter((r) => r.stderr === 'dcache: building dist/ (the first run in a clone of the repository)\n')).toHaveLength(1);
    expect(runs.filter((r) => r.stderr === '')).toHaveLength(3);
    expect(builds()).toBe(1);
    expect(existsSync(join(root, 'dist.building'))).toBe(false);
  });

  it('take over the lock of a build that was killed, and build once when four find it together', async ({ box }) => {
    const { root, builds } = clone(box);
    // a builder that has exited: its pid names no process now
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    mkdirSync(join(root, 'dist.building'));
    writeFileSync(join(root, 'dist.building', 'pid'), gone);
    const runs = await Promise.all([1, 2, 3, 4].map(() => runAt(root)));
    expect(runs.map((r) => [r.code, r.stdout])).toEqual(Array(4).fill([0, 'the built CLI\n']));
    expect(builds()).toBe(1);
    expect(readdirSync(root).filter((name) => name.startsWith('dist.building'))).toEqual([]);
  });

  it('let the build run the CLI it built (as scripts/build.js does, to warm its code cache) without waiting for itself', async ({ box }) => {
    const inner = box.path('inner-run');
    // the stand-in build runs bin/dcache.js once dist/cli.cjs is written,
    // while the first run still holds the lock; it gives up after 20 s
    // (the lock would hold it for 10 minutes)
    const { root, builds } = clone(box, [
      "const { spawnSync } = require('node:child_process');",
      `const run = spawnSync(process.execPath, ['bin/dcache.js'], { encoding: 'utf8', timeout: 20000 });`,
      `writeFileSync(${JSON.stringify(inner)}, JSON.stringify([run.status, run.stdout]));`,
    ]);
    const first = await runAt(root);
    expect([first.code, first.stdout]).toEqual([0, 'the built CLI\n']);
    expect(JSON.parse(readFileSync(inner, 'utf8'))).toEqual([0, 'the built CLI\n']);
    expect(builds()).toBe(1);
  });
});
