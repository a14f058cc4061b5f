import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from '../support/fixture.js';

// A hit is bounded below by Node's start-up, and every built-in module it
// loads is a visible share of the rest (node:stream alone is about twenty
// of Node's internal modules). The bundle requires a built-in when it first
// uses it (scripts/build.js), so a hit must require only what it uses.
// Here a preload notes every built-in that dcache's code requires.
const NEEDED_BY_A_HIT = new Set([
  'fs',
  'path',
  'module',
  // the settings file in the home directory
  'os',
  // the code cache of a Node without a compile cache of its own
  // (src/launch/code-cache.ts)
  'vm',
]);

function builtinsRequired(box: { path(...parts: string[]): string; dcache: (args: string[], options?: { env?: NodeJS.ProcessEnv }) => { code: number | null; stdout: Buffer } }, args: string[]) {
  const log = box.path('builtins.log');
  const preload = box.path('note-builtins.cjs');
  writeFileSync(
    preload,
    [
      "const Module = require('node:module');",
      "const { appendFileSync } = require('node:fs');",
      'const load = Module._load;',
      'Module._load = function (request, ...rest) {',
      `  if (Module.isBuiltin(request)) appendFileSync(${JSON.stringify(log)}, request.replace(/^node:/, '') + '\\n');`,
      '  return load.call(this, request, ...rest);',
      '};',
    ].join('\n'),
  );
  writeFileSync(log, '');
  const run = box.dcache(args, { env: { NODE_OPTIONS: `--require ${preload}` } });
  return { run, required: new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean)) };
}

describe('a hit', () => {
  it('requires only the built-in modules it uses: no crypto, no streams, no child processes, no fs/promises', ({ box }) => {
    const command = ['run', '--', 'sh', '-c', 'echo ran >> runs; echo hello'];
    const miss = builtinsRequired(box, command);
    // the first hit checks the blob (SHA-256) and marks it, once the blob
    // is 3 s old; it may verify the code cache the miss wrote, and writes
    // it again as a hit compiled it; the second verifies that one and
    // seals it (a seal in the tick of the write does not count); the next
    // ones do none of that (check-marks.ts, code-cache.ts)
    const pause = (ms = 20) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    pause(3_100);
    for (let i = 0; i < 2; i++) {
      builtinsRequired(box, command);
      pause();
    }
    const hit = builtinsRequired(box, command);
    expect([miss.run.code, hit.run.code, hit.run.stdout.toString()]).toEqual([0, 0, 'hello\n']);
    expect(readFileSync(box.path('runs'), 'utf8')).toBe('ran\n');
    // the miss, which runs the command, shows that the preload sees them
    expect(miss.required).toContain('child_process');
    expect([...hit.required].filter((name) => !NEEDED_BY_A_HIT.has(name)).sort()).toEqual([]);
  });
});
