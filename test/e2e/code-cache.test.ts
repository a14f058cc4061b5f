import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '../support/fixture.js';
import { BIN, type Sandbox } from '../support/sandbox.js';

// bin/dcache.js and the library's entry (dist/index.cjs, under
// dist/index.js) load the bundles of dist/ through V8 code caches kept
// beside them (dist/<bundle>.<tag>.cache and its seal, see
// src/launch/code-cache.ts), on every Node. Here a copy of bin/ and the
// built dist/, so that its caches can be damaged without touching the
// repository's; every process is started with the same preload (an empty
// one), as the tests with a stand-in for Node's compile cache need one.
function install(box: Sandbox): { root: string; dist: string } {
  const root = box.path('install');
  const dist = join(root, 'dist');
  cpSync(join(BIN, '..'), join(root, 'bin'), { recursive: true });
  cpSync(join(BIN, '..', '..', 'dist'), dist, { recursive: true, filter: (path) => !path.endsWith('.cache') });
  writeFileSync(join(root, 'preload.cjs'), '');
  return { root, dist };
}

function node(box: Sandbox, root: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['--require', join(root, 'preload.cjs'), ...args], {
    cwd: box.path(),
    env: { ...process.env, DCACHE_DIR: box.path('cache'), NODE_COMPILE_CACHE: box.path('node-compile-cache'), ...env },
    encoding: 'utf8',
  });
}

const dcache = (box: Sandbox, root: string, args: string[], env: NodeJS.ProcessEnv = {}) => node(box, root, [join(root, 'bin', 'dcache.js'), ...args], env);

// A program that imports the installed library and calls a cached
// function once, printing its result.
function library(box: Sandbox, root: string) {
  const script = box.path('program.mjs');
  writeFileSync(
    script,
    `import { cached } from ${JSON.stringify(join(root, 'dist', 'index.js'))};\nconsole.log(await cached(function double(n) { return 2 * n; })(21));\n`,
  );
  return node(box, root, [script]);
}

const caches = (dist: string, bundle: string) => readdirSync(dist).filter((name) => name.startsWith(`${bundle}.`) && name.endsWith('.cache'));

// The cache of `bundle`, which must be the only one.
function onlyCache(dist: string, bundle: string): string {
  const found = caches(dist, bundle);
  expect(found).toHaveLength(1);
  return join(dist, found[0]!);
}

// Flips bytes in the middle of a cache, past every header: V8 checks its
// own header only, and aborts the process on bytes like these.
function damage(path: string): void {
  const bytes = readFileSync(path);
  for (let i = 0; i < 200; i++) bytes[Math.floor(bytes.length / 2) + i]! ^= 0x5a;
  writeFileSync(path, bytes);
}

describe('the code caches of dist/', () => {
  it('are written by the first runs and used, unchanged, by the next ones', ({ box }) => {
    const { root, dist } = install(box);
    // a miss loads the CLI and execa
    expect(dcache(box, root, ['run', '--', 'echo', 'ok']).stdout).toBe('ok\n');
    const cli = onlyCache(dist, 'cli.cjs');
    const execa = onlyCache(dist, 'execa.cjs');
    const before = [statSync(cli).mtimeMs, statSync(execa).mtimeMs];
    expect(dcache(box, root, ['run', '--force', '--', 'echo', 'ok']).stdout).toBe('ok\n');
    expect([statSync(cli).mtimeMs, statSync(execa).mtimeMs]).toEqual(before);
    expect(readdirSync(dist).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('that are damaged are a miss of the cache, never a crash, and are written again', ({ box }) => {
    const { root, dist } = install(box);
    expect(dcache(box, root, ['run', '--', 'echo', 'ok']).stdout).toBe('ok\n');
    const cli = onlyCache(dist, 'cli.cjs');
    const execa = onlyCache(dist, 'execa.cjs');
    damage(cli);
    damage(execa);
    const damaged = [readFileSync(cli), readFileSync(execa)];
    for (let i = 0; i < 2; i++) {
      const run = dcache(box, root, ['run', '--force', '--', 'echo', 'ok']);
      expect([run.status, run.stdout, run.stderr]).toEqual([0, 'ok\n', '']);
    }
    // rewritten whole: the next run takes them as they are
    expect(readFileSync(cli).equals(damaged[0]!)).toBe(false);
    expect(readFileSync(execa).equals(damaged[1]!)).toBe(false);
    const rewritten = [statSync(cli).mtimeMs, statSync(execa).mtimeMs];
    expect(dcache(box, root, ['run', '--force', '--', 'echo', 'ok']).stdout).toBe('ok\n');
    expect([statSync(cli).mtimeMs, statSync(execa).mtimeMs]).toEqual(rewritten);
  });

  it('made by a miss are written again by the first hit, as it compiled them, and then used unchanged', ({ box }) => {
    const { root, dist } = install(box);
    expect(dcache(box, root, ['run', '--', 'echo', 'ok']).stdout).toBe('ok\n');
    const cli = onlyCache(dist, 'cli.cjs');
    const maker = (path: string) => readFileSync(path).toString('latin1', 'dcache-code-cache-2 '.length, 'dcache-code-cache-2 '.length + 1);
    expect(maker(cli)).toBe('o');
    const made = readFileSync(cli);
    const hit = dcache(box, root, ['run', '-v', '--', 'echo', 'ok']);
    expect([hit.stdout, hit.stderr]).toEqual(['ok\n', expect.stringMatching(/^dcache: hit: /)]);
    expect(maker(cli)).toBe('h');
    // it holds what the miss compiled and the replay besides
    expect(readFileSync(cli).equals(made)).toBe(false);
    const rewritten = statSync(cli).mtimeMs;
    for (const args of [['run', '--', 'echo', 'ok'], ['run', '--force', '--', 'echo', 'ok']]) expect(dcache(box, root, args).stdout).toBe('ok\n');
    expect(statSync(cli).mtimeMs).toBe(rewritten);
    expect(readdirSync(dist).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('hold the library’s bundle too: written by the first program that imports it, again by its first hit, and used unchanged by the next', ({ box }) => {
    const { root, dist } = install(box);
    expect([library(box, root).stdout, library(box, root).stderr]).toEqual(['42\n', '']);
    const cache = onlyCache(dist, 'library.cjs');
    // the first hit wrote it again (see the test before)
    expect(readFileSync(cache).toString('latin1', 0, 'dcache-code-cache-2 h'.length)).toBe('dcache-code-cache-2 h');
    const before = statSync(cache).mtimeMs;
    for (let i = 0; i < 2; i++) expect(library(box, root).stdout).toBe('42\n');
    expect(statSync(cache).mtimeMs).toBe(before);
    damage(cache);
    const damaged = library(box, root);
    expect([damaged.status, damaged.stdout, damaged.stderr]).toEqual([0, '42\n', '']);
    expect(statSync(cache).mtimeMs).not.toBe(before);
  });

  it('that are cut short are a miss of the cache', ({ box }) => {
    const { root, dist } = install(box);
    dcache(box, root, ['--version']);
    const cli = onlyCache(dist, 'cli.cjs');
    writeFileSync(cli, readFileSync(cli).subarray(0, 1000));
    const run = dcache(box, root, ['--version']);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('made from another version of a bundle are not used for it, even at the same length', ({ box }) => {
    const { root, dist } = install(box);
    const version = dcache(box, root, ['--version']).stdout.trim();
    onlyCache(dist, 'cli.cjs');
    // an edit that keeps the length, which is all V8 checks of the source
    const bundle = join(dist, 'cli.cjs');
    const source = readFileSync(bundle, 'utf8');
    const other = version.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
    expect(source.split(JSON.stringify(version)).length).toBeGreaterThan(1);
    writeFileSync(bundle, source.replaceAll(JSON.stringify(version), JSON.stringify(other)));
    expect(dcache(box, root, ['--version']).stdout.trim()).toBe(other);
  });

  it('of other Node versions go when unwritten for 30 days, and temp files of killed writers after an hour', ({ box }) => {
    const { root, dist } = install(box);
    const aged = (name: string, ageMs: number) => {
      const path = join(dist, name);
      writeFileSync(path, 'x');
      const when = new Date(Date.now() - ageMs);
      utimesSync(path, when, when);
      return path;
    };
    const day = 24 * 3600 * 1000;
    const old = aged('cli.cjs.0123456789ab.cache', 31 * day);
    const recent = aged('cli.cjs.ba9876543210.cache', 29 * day);
    const deadTemp = aged('cli.cjs.0123456789ab.cache.4242.a1b2c3d4e5f6.tmp', 2 * 3600 * 1000);
    const liveTemp = aged('cli.cjs.0123456789ab.cache.4243.a1b2c3d4e5f6.tmp', 60 * 1000);
    const otherBundle = aged('execa.cjs.0123456789ab.cache', 31 * day);
    // this run writes the CLI's cache, and looks around it then
    expect(dcache(box, root, ['--version']).status).toBe(0);
    expect([old, recent, deadTemp, liveTemp, otherBundle].map((path) => existsSync(path))).toEqual([false, true, false, true, true]);
    expect(caches(dist, 'cli.cjs')).toHaveLength(2);
  });

  it('are kept one per Node version and flags, so that processes with other flags do not rewrite each other’s', ({ box }) => {
    const { root, dist } = install(box);
    dcache(box, root, ['--version']);
    dcache(box, root, ['--version'], { NODE_OPTIONS: '--max-old-space-size=300' });
    const both = caches(dist, 'cli.cjs');
    expect(both).toHaveLength(2);
    const times = () => both.map((name) => statSync(join(dist, name)).mtimeMs);
    const before = times();
    dcache(box, root, ['--version']);
    dcache(box, root, ['--version'], { NODE_OPTIONS: '--max-old-space-size=300' });
    expect(times()).toEqual(before);
  });
});

describe('on a Node with a compile cache of its own', () => {
  // a stand-in for module.enableCompileCache() (Node 22.8 and later) that
  // notes each call: ours holds every function a hit runs, Node's only the
  // bundle's top level, and measured slower (src/launch/launch.ts)
  function withCompileCache(box: Sandbox, root: string): string {
    const calls = box.path('enable-compile-cache-calls');
    writeFileSync(
      join(root, 'as-node-24.cjs'),
      `require('node:module').enableCompileCache = () => require('node:fs').appendFileSync(${JSON.stringify(calls)}, 'x');\n`,
    );
    return calls;
  }

  const withStandIn = (box: Sandbox, root: string, args: string[]) =>
    spawnSync(process.execPath, ['--require', join(root, 'as-node-24.cjs'), ...args], {
      cwd: box.path(),
      env: { ...process.env, DCACHE_DIR: box.path('cache') },
      encoding: 'utf8',
    });

  it('the CLI and the library use the code cache of ours, and leave Node’s off', ({ box }) => {
    const { root, dist } = install(box);
    const calls = withCompileCache(box, root);
    const run = withStandIn(box, root, [join(root, 'bin', 'dcache.js'), 'run', '--', 'echo', 'ok']);
    expect([run.status, run.stdout, run.stderr]).toEqual([0, 'ok\n', '']);
    const script = box.path('program.mjs');
    writeFileSync(script, `import { cached } from ${JSON.stringify(join(dist, 'index.js'))};\nconsole.log(await cached(function double(n) { return 2 * n; })(21));\n`);
    const program = withStandIn(box, root, [script]);
    expect([program.status, program.stdout, program.stderr]).toEqual([0, '42\n', '']);
    expect(existsSync(calls)).toBe(false);
    onlyCache(dist, 'cli.cjs');
    onlyCache(dist, 'library.cjs');
  });
});
