import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '../support/fixture.js';
import { machine } from '../support/machines.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// A directory as the shared cache (--remote file:///…): machines that mount
// one file system, under one user account, share entries and single flight
// through it, as they would through Redis.

const shared = (box: Sandbox) => box.path('team-cache');
const url = (box: Sandbox) => pathToFileURL(shared(box)).toString();

describe('a shared directory as the remote', () => {
  it('lets machine B replay what machine A recorded, output file included, without running it', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched; printf "a,b\\n" > data.csv');
    const a = machine(box, 'a').run(['run', '--remote', url(box), '-o', 'data.csv', '--', script.path]);
    expect(a.code).toBe(0);
    const b = machine(box, 'b').run(['run', '-v', '--remote', url(box), '-o', 'data.csv', '--', script.path]);
    expect(b.code).toBe(0);
    expect(b.stdout.toString()).toBe('fetched\n');
    expect(plain(b.stderr)).toMatch(/^dcache: hit on the remote cache file:\/\//);
    expect(script.runs()).toBe(1);
  });

  it('keeps its files private, as a cache directory', ({ box }) => {
    machine(box, 'a').run(['run', '--remote', url(box), '--', 'echo', 'hi']);
    const modes = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
        const path = join(dir, d.name);
        const mode = (statSync(path).mode & 0o777).toString(8);
        return d.isDirectory() ? [mode, ...modes(path)] : [mode];
      });
    expect(new Set(modes(shared(box)))).toEqual(new Set(['700', '600']));
  });

  it('is refused, with one warning, when others may write to it; the command runs', ({ box }) => {
    mkdirSync(shared(box));
    chmodSync(shared(box), 0o777);
    const r = machine(box, 'a').run(['run', '--remote', url(box), '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toMatch(/^dcache: the remote cache file:\/\/.* failed \(.*others may write to it.*\); going on without it\n$/);
  });
});
