import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// --stale-if-error: a refresh that fails gives way to the last good entry.
// The fixture succeeds until a file named `broken` exists in the sandbox.

const at = (now: string) => ({ env: { DCACHE_NOW: now } });

const FETCH = [
  'if [ -e broken ]; then echo partial; echo "upstream down" >&2; echo garbage > out.csv; exit 3; fi',
  'echo "good data"; echo note >&2; echo "a,b" > out.csv',
].join('\n');

const breakIt = (box: Sandbox) => writeFileSync(box.path('broken'), '');
const outCsv = (box: Sandbox) => readFileSync(box.path('out.csv'), 'utf8');

describe('a failing refresh without --stale-if-error', () => {
  it('passes the failure through: its output, its exit code, its files', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    box.dcache(['run', '-o', 'out.csv', '--', fetch.path], at('2024-08-27T09:00:00'));
    breakIt(box);
    const r = box.dcache(['run', '-o', 'out.csv', '--', fetch.path], at('2024-08-28T10:30:00'));
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe('partial\n');
    expect(r.stderr).toBe('upstream down\n');
    expect(outCsv(box)).toBe('garbage\n');
  });
});

describe('a failing refresh with --stale-if-error', () => {
  const args = (fetch: { path: string }, ...more: string[]) => ['run', '--stale-if-error', '-o', 'out.csv', ...more, '--', fetch.path];

  it('shows the failure live, then replays the earlier entry and exits 0', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    box.dcache(args(fetch), at('2024-08-27T09:00:00'));
    breakIt(box);
    const r = box.dcache(args(fetch), at('2024-08-28T10:30:00'));
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('partial\ngood data\n');
    expect(plain(r.stderr)).toBe(
      'upstream down\n' +
        'dcache: the command failed (exit 3); replaying the entry recorded 25h30m ago (2024-08-27 09:00:00 +02:00) instead (--stale-if-error)\n' +
        'note\n',
    );
  });

  it('restores the earlier entry\'s output files over what the failed run wrote', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    box.dcache(args(fetch), at('2024-08-27T09:00:00'));
    breakIt(box);
    box.dcache(args(fetch), at('2024-08-28T10:30:00'));
    expect(outCsv(box)).toBe('a,b\n');
  });

  it('keeps the good entry, so a later failure falls back to it again', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    box.dcache(args(fetch), at('2024-08-27T09:00:00'));
    breakIt(box);
    box.dcache(args(fetch), at('2024-08-28T10:30:00'));
    const again = box.dcache(args(fetch), at('2024-08-29T10:30:00'));
    expect(fetch.runs()).toBe(3);
    expect(again.code).toBe(0);
    expect(again.stdout.toString()).toBe('partial\ngood data\n');
    expect(plain(again.stderr)).toMatch(/^upstream down\ndcache: the command failed \(exit 3\); replaying the entry recorded 2d1h ago /);
  });

  it('does not record the failure, even with --cache-failures', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    box.dcache(args(fetch), at('2024-08-27T09:00:00'));
    breakIt(box);
    box.dcache(args(fetch, '--cache-failures'), at('2024-08-28T10:30:00'));
    const later = box.dcache(['run', '--cache-failures', '-o', 'out.csv', '--', fetch.path], at('2024-08-28T11:00:00'));
    expect(fetch.runs()).toBe(3);
    expect(later.code).toBe(3);
  });

  it('does not replace a command killed by a signal', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'if [ -e broken ]; then echo partial; kill -TERM $$; fi\necho "good data"');
    box.dcache(['run', '--stale-if-error', '--', fetch.path], at('2024-08-27T09:00:00'));
    breakIt(box);
    const r = box.dcache(['run', '--stale-if-error', '--', fetch.path], at('2024-08-28T10:30:00'));
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(128 + 15);
    expect(r.stdout.toString()).toBe('partial\n');
    expect(r.stderr).toBe('');
  });

  it('passes the failure through when there is no earlier entry', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    breakIt(box);
    const r = box.dcache(args(fetch), at('2024-08-28T10:30:00'));
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe('partial\n');
    expect(r.stderr).toBe('upstream down\n');
  });

  it('does not fall back to an earlier failure recorded with --cache-failures', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    breakIt(box);
    box.dcache(['run', '--cache-failures', '--', fetch.path], at('2024-08-27T09:00:00'));
    const r = box.dcache(['run', '--stale-if-error', '--', fetch.path], at('2024-08-28T10:30:00'));
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe('partial\n');
    expect(r.stderr).toBe('upstream down\n');
  });

  it('falls back when --force runs a fresh entry that then fails', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    box.dcache(args(fetch), at('2024-08-27T09:00:00'));
    breakIt(box);
    const r = box.dcache(args(fetch, '--force'), at('2024-08-27T10:00:00'));
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('partial\ngood data\n');
    expect(plain(r.stderr)).toMatch(/^upstream down\ndcache: the command failed \(exit 3\); replaying the entry recorded 1h ago /);
  });

  it('falls back when a watched source changed and the run fails', ({ box }) => {
    writeFileSync(box.path('input.csv'), 'v1\n');
    const fetch = box.counter('fetch.sh', FETCH);
    const watched = ['run', '--stale-if-error', '-p', 'forever', '-w', 'input.csv', '--', fetch.path];
    box.dcache(watched);
    writeFileSync(box.path('input.csv'), 'v2 is longer\n');
    breakIt(box);
    const r = box.dcache(watched);
    expect(fetch.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('partial\ngood data\n');
  });

  it('replays the earlier entry with its warning under -q, which a cron job must see, and without it under -qq', ({ box }) => {
    const fetch = box.counter('fetch.sh', FETCH);
    box.dcache(args(fetch), at('2024-08-27T09:00:00'));
    breakIt(box);
    const quiet = box.dcache(args(fetch, '-q'), at('2024-08-28T10:30:00'));
    expect(quiet.code).toBe(0);
    expect(quiet.stdout.toString()).toBe('partial\ngood data\n');
    expect(plain(quiet.stderr)).toMatch(/^upstream down\ndcache: the command failed \(exit 3\); replaying the entry recorded .* instead \(--stale-if-error\)\nnote\n$/);
    const silent = box.dcache(args(fetch, '-qq'), at('2024-08-28T10:30:00'));
    expect(silent.stdout.toString()).toBe('partial\ngood data\n');
    expect(silent.stderr).toBe('upstream down\nnote\n');
  });
});
