import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanClone, npm, REPO } from '../support/clean-clone.js';
import { afterAll, beforeAll, describe, expect, it } from '../support/fixture.js';

// The package as users get it: `npm pack` in a clean clone of the
// repository (which has no dist/: packing builds it), then the tarball
// installed with `npm install -g` into a private prefix, and into a
// project, as a dependency.
let work: string;
let clone: string;
let tarball: string;
let contents: string[];
let installed: string;
const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dcache-pack-'));
  clone = cleanClone(join(work, 'clone'));
  const out = npm(clone, ['pack', '--json', '--pack-destination', work]).stdout;
  const [packed] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, packed!.filename);
  contents = packed!.files.map((f) => f.path).sort();
  installed = npm(work, ['install', '-g', '--prefix', join(work, 'prefix'), tarball]).stderr;
}, 240_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the launcher, the bundles, the readme, the licence and the changelog, and no tests or sources', () => {
    expect(contents).toEqual(
      expect.arrayContaining(['bin/dcache.js', 'dist/launch.cjs', 'dist/cli.cjs', 'dist/execa.cjs', 'dist/index.cjs', 'dist/index.js', 'dist/library.cjs', 'README.md', 'LICENSE', 'CHANGELOG.md']),
    );
    expect(contents.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('scripts/') || f.endsWith('.map'))).toEqual([]);
  });

  it('installs without an install script for npm to ask about: dist/ comes built', () => {
    expect(installed).not.toMatch(/install-scripts|prepare|postinstall/);
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as { scripts?: Record<string, string> };
    expect(Object.keys(manifest.scripts ?? {}).filter((name) => /^(pre|post)?install$|^prepare$/.test(name))).toEqual([]);
  });

  it('leaves the package.json of the clone as it was after packing', () => {
    expect(readFileSync(join(clone, 'package.json'), 'utf8')).toBe(readFileSync(join(REPO, 'package.json'), 'utf8'));
    expect(existsSync(join(clone, 'package.json.prepack'))).toBe(false);
  });

  it('installs with npm install -g and runs dcache run from there', () => {
    const bin = join(work, 'prefix', 'bin', 'dcache');
    const cache = join(work, 'cache');
    const env: NodeJS.ProcessEnv = { ...process.env, DCACHE_DIR: cache };
    delete env.DCACHE_NOW;
    const first = execFileSync(bin, ['run', '--', 'echo', 'ok'], { cwd: work, env, encoding: 'utf8' });
    const second = execFileSync(bin, ['run', '-v', '--', 'echo', 'ok'], { cwd: work, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(first).toBe('ok\n');
    expect(second).toBe('ok\n');
    expect(readdirSync(join(cache, 'entries')).length).toBe(1);
  });

  it('prints the package version for dcache --version', () => {
    expect(execFileSync(join(work, 'prefix', 'bin', 'dcache'), ['--version'], { encoding: 'utf8' })).toBe(`${version}\n`);
  });

  it('installs into a project as a dependency, where npx dcache prints its version and replays a hit', ({ box }) => {
    const project = box.path('project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'a-project', version: '1.0.0', private: true }));
    npm(project, ['install', tarball]);
    const npx = (args: string[]) => spawnSync('npx', ['--offline', 'dcache', ...args], { cwd: project, env: { ...box.env }, encoding: 'utf8', timeout: 60_000 });
    const printed = npx(['--version']);
    expect([printed.status, printed.stdout, printed.stderr]).toEqual([0, `${version}\n`, '']);
    const command = ['--', 'sh', '-c', 'echo ran >> runs; echo hello'];
    const first = npx(['run', ...command]);
    const hit = npx(['run', '-v', ...command]);
    expect([first.status, first.stdout, hit.status, hit.stdout]).toEqual([0, 'hello\n', 0, 'hello\n']);
    expect(hit.stderr).toMatch(/^dcache: hit: /);
    expect(readFileSync(join(project, 'runs'), 'utf8')).toBe('ran\n');
  });
});
