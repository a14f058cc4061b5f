#!/usr/bin/env node
'use strict';
// Runs the bundled CLI, through V8's code cache (load-bundle.js); in a
// clone of the repository, builds it first.
const { existsSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { loadBundle } = require('./load-bundle.js');

const dist = join(__dirname, '..', 'dist');
const file = join(dist, 'cli.cjs');
// held (a directory, made atomically) while a first run builds dist/
const buildLock = join(__dirname, '..', 'dist.building');
// a lock older than this was left by a build that died
const BUILD_LOCK_STALE_MS = 10 * 60 * 1000;
// set, to the lock's path, in the environment of the build a first run starts
const BUILDING = 'DCACHE_BUILDING_UNDER_LOCK';
let source;
try {
  // (a first run in a clone may be building dist/ right now: wait for it,
  // unless this process is that build's own, which runs the CLI once it is
  // built to warm its code cache, and would otherwise wait for itself)
  if (existsSync(buildLock) && process.env[BUILDING] !== buildLock) waitForBuild();
  source = readFileSync(file, 'utf8');
} catch (err) {
  source = buildOnce(err);
}
loadBundle(file, source);

// A clone of the repository has no dist/ until it is built: the package
// carries no install script (npm asks users to approve those), so the first
// run in a clone builds it with the project's own build script. An
// installed package ships dist/ and never gets here.
// Two first runs at once (make -j8 in a fresh clone) build it once: the
// first takes the lock and builds, the others wait for it and use its dist/.
function buildOnce(err) {
  const { mkdirSync } = require('node:fs');
  const { spawnSync } = require('node:child_process');
  const root = join(__dirname, '..');
  const script = join(root, 'scripts', 'build.js');
  if (err.code !== 'ENOENT' || !existsSync(script) || !existsSync(join(root, 'node_modules', 'esbuild'))) throw err;
  for (;;) {
    try {
      mkdirSync(buildLock);
      writeFileSync(join(buildLock, 'pid'), String(process.pid));
      break;
    } catch (lockErr) {
      if (lockErr.code !== 'EEXIST') throw lockErr;
    }
    waitForBuild();
    if (existsSync(file)) return readFileSync(file, 'utf8');
  }
  try {
    process.stderr.write('dcache: building dist/ (the first run in a clone of the repository)\n');
    const built = spawnSync(process.execPath, [script], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, [BUILDING]: buildLock },
    });
    rmSync(buildLock, { recursive: true, force: true });
    if (built.status !== 0) {
      process.stderr.write('dcache: the build failed; run `npm run build` to see why\n');
      process.exit(125);
    }
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(buildLock, { recursive: true, force: true });
  }
}

// Waits while another first run holds the build lock; removes a lock whose
// builder is gone (interrupted, killed) or that is too old to be a build.
function waitForBuild() {
  const { statSync } = require('node:fs');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let lock;
    try {
      lock = statSync(buildLock);
    } catch {
      return;
    }
    if (Date.now() - lock.mtimeMs > BUILD_LOCK_STALE_MS || builderGone()) {
      breakLock(lock.ino);
      return;
    }
    Atomics.wait(pause, 0, 0, 100);
  }
}

// Removes the stale lock `ino`, and only it: two waiters may judge it stale
// at once, and the first may already have taken a new lock by the same
// name. The lock is moved aside first (one rename wins); a lock moved aside
// that is not the stale one is put back.
function breakLock(ino) {
  const { statSync } = require('node:fs');
  const aside = `${buildLock}.stale.${process.pid}`;
  try {
    renameSync(buildLock, aside);
  } catch {
    return;
  }
  if (statSync(aside).ino === ino) {
    rmSync(aside, { recursive: true, force: true });
    return;
  }
  try {
    renameSync(aside, buildLock);
  } catch {
    // a third run took the name meanwhile: this live lock's build goes on,
    // and its dist/ is still checked for by every waiter
    rmSync(aside, { recursive: true, force: true });
  }
}

function builderGone() {
  let pid;
  try {
    pid = Number(readFileSync(join(buildLock, 'pid'), 'utf8'));
  } catch {
    // not written yet
    return false;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return err.code === 'ESRCH';
  }
}
