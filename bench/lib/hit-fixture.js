import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './paths.js';
import { cleanEnv, expectSuccess, spawnNode } from './spawn.js';

// A recorded entry to replay: a temp cache directory, a command that prints
// `bytes` bytes and appends a line to a counter file each time it really
// executes, and the entry recorded once. `runs()` reads the counter, so a
// caller can prove that every later call was a hit.
// `build` is the snapshot of the CLI to run (bench/lib/snapshot.js).
// `cacheDir`, if given, is a cache directory to record into (one filled
// with other entries, bench/lib/big-store.js); cleanup() leaves it alone.
// `runOptions` go before `--` (a watched source, say), `env` into the
// environment of every call.
export function createHitFixture(build, { bytes, prefix = 'dcache-bench-', cacheDir: givenCacheDir, runOptions = [], env: extraEnv = {} }) {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const cacheDir = givenCacheDir ?? join(root, 'cache');
  const payloadPath = join(root, 'payload');
  const counterPath = join(root, 'runs');
  const expected = makePayload(bytes);
  writeFileSync(payloadPath, expected);
  writeFileSync(counterPath, '');

  // POSIX sh and cat only, so that it records the same way on macOS.
  const command = ['/bin/sh', '-c', 'echo ran >> "$1"; cat "$2"', 'dcache-bench', counterPath, payloadPath];
  const args = [build.bin, 'run', ...runOptions, '--', ...command];
  const env = cleanEnv({ ...extraEnv, DCACHE_DIR: cacheDir });
  const options = { cwd: REPO, env };

  const fixture = {
    root,
    cacheDir,
    expected,
    args,
    options,
    runs: () => readFileSync(counterPath, 'utf8').split('\n').filter(Boolean).length,
    // Runs the cached command once, through dcache, as the benchmark does.
    replay: () => spawnNode(args, options),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };

  try {
    checkOutput('recording the entry', fixture, fixture.replay());
    if (fixture.runs() !== 1) throw new Error(`recording the entry ran the command ${fixture.runs()} times, not once`);
  } catch (error) {
    fixture.cleanup();
    throw error;
  }
  return fixture;
}

// Throws unless a run printed exactly the payload and nothing on stderr.
export function checkOutput(label, fixture, result) {
  expectSuccess(label, result);
  if (!result.stdout.equals(fixture.expected)) {
    throw new Error(`${label}: stdout has ${result.stdout.length} bytes, not the ${fixture.expected.length} recorded`);
  }
  if (result.stderr.length > 0) throw new Error(`${label}: unexpected stderr: ${result.stderr.toString().trim()}`);
}

// Printable, newline-terminated lines, exactly `bytes` long.
function makePayload(bytes) {
  const line = 'dcache benchmark payload 0123456789 abcdefghijklmnopqrstuvwxyz\n';
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}
