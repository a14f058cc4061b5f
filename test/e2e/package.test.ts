import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '../support/fixture.js';

// The package as users get it: `npm pack`, then `npm install -g` of the
// tarball into a private prefix, then the installed `dcache`.
const root = resolve(import.meta.dirname, '../..');
let work: string;
let tarball: string;
let contents: string[];
let installed: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dcache-pack-'));
  // dist/ is already built by `npm test`; packing must not rebuild it under
  // the feet of the tests running beside this one.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' });
  const [packed] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, packed!.filename);
  contents = packed!.files.map((f) => f.path).sort();
  const install = spawnSync('npm', ['install', '-g', '--prefix', join(work, 'prefix'), '--no-audit', '--no-fund', tarball], {
    cwd: work,
    encoding: 'utf8',
  });
  installed = `${install.stdout}${install.stderr}`;
  if (install.status !== 0) throw new Error(`npm install -g failed:\n${installed}`);
}, 120_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the executable, the bundle, the readme, the licence and the changelog, and no tests or sources', ({ box }) => {
    expect(contents).toContain('bin/dcache.js');
    expect(contents).toContain('dist/cli.cjs');
    expect(contents).toContain('README.md');
    expect(contents).toContain('LICENSE');
    expect(contents).toContain('CHANGELOG.md');
    expect(contents.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.endsWith('.map'))).toEqual([]);
  });

  it('installs without an install script for npm to ask about: dist/ comes built', () => {
    expect(installed).not.toMatch(/install-scripts|prepare|postinstall/);
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as { scripts?: Record<string, string> };
    expect(Object.keys(manifest.scripts ?? {}).filter((name) => /^(pre|post)?install$|^prepare$/.test(name))).toEqual([]);
  });

  it('installs with npm install -g and runs dcache run from there', ({ box }) => {
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

  it('prints the package version for dcache --version', ({ box }) => {
    const bin = join(work, 'prefix', 'bin', 'dcache');
    const { version } = JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: root, encoding: 'utf8' })) as {
      version: string;
    };
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8' })).toBe(`${version}\n`);
  });
});
