import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanClone, npm, REPO } from '../support/clean-clone.js';
import { describe, expect, it } from '../support/fixture.js';
import type { Sandbox } from '../support/sandbox.js';

// A clone of the repository has no dist/: `npm install` builds it (the
// `prepare` script); bin/dcache.js, the launcher, never builds. (Packing a
// clean clone is in package.test.ts.)

const BUILD_MS = 180_000;

function call(box: Sandbox, cwd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, args, { cwd, env: { ...box.env }, encoding: 'utf8', timeout: 60_000 });
}

describe('a clean clone of the repository', () => {
  it(
    'has a dist/ after npm install, and its dcache runs and replays',
    ({ box }) => {
      const clone = cleanClone(box.path('clone'));
      expect(existsSync(join(clone, 'dist'))).toBe(false);
      npm(clone, ['install']);
      expect(existsSync(join(clone, 'dist', 'cli.cjs'))).toBe(true);
      const run = () => call(box, box.root, [join(clone, 'bin', 'dcache.js'), 'run', '--', 'sh', '-c', 'echo ran >> runs; echo hello']);
      const first = run();
      const second = run();
      expect([first.status, first.stdout, first.stderr]).toEqual([0, 'hello\n', '']);
      expect([second.status, second.stdout, second.stderr]).toEqual([0, 'hello\n', '']);
      expect(readFileSync(box.path('runs'), 'utf8')).toBe('ran\n');
    },
    BUILD_MS,
  );

  it('whose dist/ is not built says so, and how to build it, without a stack trace', ({ box }) => {
    const clone = box.path('unbuilt');
    mkdirSync(clone);
    cpSync(join(REPO, 'bin'), join(clone, 'bin'), { recursive: true });
    const run = call(box, box.root, [join(clone, 'bin', 'dcache.js'), '--version']);
    expect([run.status, run.stdout]).toEqual([125, '']);
    expect(run.stderr).toBe(`dcache: dist/ is not built in ${clone}: run \`npm install\` or \`npm run build\` there\n`);
  });
});
