import { readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

const at = (now: string, env: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: now, ...env } });
const ESC = '\u001b';
const SECRET = 'hunter2-very-secret-value';
// The fields of a --json object that the contract names, in their order:
// others may be added anywhere, these may not move or go.
const known = (object: object, fields: string[]) => Object.keys(object).filter((k) => fields.includes(k));

function keys(box: Sandbox): string[] {
  const r = box.dcache(['ls', '--json']);
  return (JSON.parse(r.stdout.toString()) as { entries: Array<{ key: string }> }).entries.map((e) => e.key);
}

// Records `echo 0` … `echo 16` without the working directory in the key:
// seventeen keys, so two of them share their first hexadecimal digit.
function recordSeventeen(box: Sandbox): string[] {
  box.shell('i=0; while [ $i -le 16 ]; do $DCACHE run --no-cwd -- echo $i >/dev/null; i=$((i+1)); done');
  const all = keys(box);
  expect(all).toHaveLength(17);
  return all;
}

function sharedPrefix(all: string[]): { prefix: string; matching: string[] } {
  const prefix = all.map((k) => k[0]!).find((digit, i, digits) => digits.indexOf(digit) !== i)!;
  return { prefix, matching: all.filter((k) => k.startsWith(prefix)) };
}

// A recording with every kind of key material and an output file.
function recordRich(box: Sandbox): string {
  const fetch = box.counter('fetch.sh', 'echo data; echo warn >&2; echo file > out.txt');
  writeFileSync(box.path('watched.txt'), 'v1\n');
  const r = box.dcache(
    ['run', '-e', 'API_TOKEN', '-o', 'out.txt', '-w', 'watched.txt', '--key', 'nightly', '-p', 'daily', '-p', 'ttl:6h', '--', fetch.path],
    at('2024-08-27T09:00:00', { API_TOKEN: SECRET }),
  );
  expect(r.code).toBe(0);
  return fetch.path;
}

describe('dcache show', () => {
  it('shows the key material, exit code, duration, sizes, output files and watched sources', ({ box }) => {
    const fetch = recordRich(box);
    const [key] = keys(box);
    const r = box.dcache(['show', key!.slice(0, 6)], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const text = r.stdout.toString();
    // label, two spaces or more, value
    const rows = text.trimEnd().split('\n').map((line) => /^(\S+(?: \S+)*) {2,}(.*)$/.exec(line)!.slice(1));
    const field = (label: string) => rows.filter(([l]) => l === label).map(([, value]) => value);
    expect(field('key')).toEqual([key]);
    expect(field('command')).toEqual([fetch]);
    expect(field('working directory')).toEqual([realpathSync(box.root)]);
    expect(field('environment')).toEqual([expect.stringMatching(/^API_TOKEN \(value hash [0-9a-f]+\)$/)]);
    expect(field('key text')).toEqual(['"nightly"']);
    expect(field('recorded')).toEqual([expect.stringMatching(/^2024-08-27 09:00:00 \+02:00 \(3h ago\), ran \d+ ms$/)]);
    expect(field('exit code')).toEqual(['0']);
    expect(field('policies')).toEqual(['daily, ttl:6h']);
    expect(field('state')).toEqual(['fresh until 2024-08-27 15:00:00 +02:00']);
    expect(field('stdout')).toEqual([expect.stringMatching(/^5 B \(blob [0-9a-f]{16}\)$/)]);
    expect(field('stderr')).toEqual([expect.stringMatching(/^5 B \(blob [0-9a-f]{16}\)$/)]);
    expect(field('output')).toEqual([expect.stringMatching(/^out\.txt \(5 B, mode [0-7]+\)$/)]);
    expect(field('watch')).toEqual([expect.stringMatching(/^watched\.txt: /)]);
  });

  it('never shows an environment value, only its hash', ({ box }) => {
    recordRich(box);
    const [key] = keys(box);
    const text = box.dcache(['show', key!]).stdout.toString() + box.dcache(['show', '--json', key!]).stdout.toString();
    expect(text).toContain('API_TOKEN');
    expect(text).not.toContain(SECRET);
  });

  it('shows the exit code of a recorded failure', ({ box }) => {
    box.dcache(['run', '--cache-failures', '--', 'sh', '-c', 'exit 3']);
    const [key] = keys(box);
    const text = box.dcache(['show', key!]).stdout.toString();
    expect(text).toMatch(/^exit code +3$/m);
  });

  it('takes upper-case hexadecimal as well', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'a']);
    const [key] = keys(box);
    const r = box.dcache(['show', key!.slice(0, 8).toUpperCase()]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain(key);
  });

  it('writes no escape codes into a pipe', ({ box }) => {
    recordRich(box);
    const [key] = keys(box);
    const r = box.dcache(['show', key!], { env: { TERM: 'xterm' } });
    expect(r.stdout.toString()).not.toContain(ESC);
  });
});

describe('dcache show --json', () => {
  // The contract: these fields, in this order; new fields may be added.
  it('gives every field of ls --json, then the duration, key material, streams, files and validators', ({ box }) => {
    const fetch = recordRich(box);
    const [key] = keys(box);
    const r = box.dcache(['show', '--json', key!.slice(0, 4)], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const detail = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
    const blob = { hash: expect.stringMatching(/^[0-9a-f]{64}$/), size: 5 };
    expect(detail).toMatchObject({
      version: 1,
      key,
      argv: [fetch],
      shell: false,
      cwd: realpathSync(box.root),
      recordedAt: '2024-08-27T07:00:00.000Z',
      policies: ['daily', 'ttl:6h'],
      fresh: true,
      expiresAt: '2024-08-27T13:00:00.000Z',
      // stdout, stderr, out.txt, and the interleaving of stdout and stderr
      bytes: 5 + 5 + 5 + 8,
      hits: 0,
      lastHitAt: null,
      outputs: ['out.txt'],
      exitCode: 0,
      durationMs: expect.any(Number),
      material: {
        kind: 'command',
        format: 2,
        shell: false,
        argv: [fetch],
        cwd: realpathSync(box.root),
        env: [['API_TOKEN', expect.stringMatching(/^[0-9a-f]+$/)]],
        stdin: null,
        outputs: ['out.txt'],
        extra: 'nightly',
      },
      stdout: blob,
      stderr: blob,
      files: [{ path: 'out.txt', type: 'file', mode: expect.any(Number), blob }],
      validators: [expect.objectContaining({ source: 'watched.txt', kind: 'path' })],
    });
    const fields = [
      'version',
      'key',
      'argv',
      'shell',
      'cwd',
      'recordedAt',
      'policies',
      'fresh',
      'expiresAt',
      'bytes',
      'hits',
      'lastHitAt',
      'outputs',
      'exitCode',
      'durationMs',
      'material',
      'stdout',
      'stderr',
      'files',
      'validators',
    ];
    expect(known(detail, fields)).toEqual(fields);
    const material = ['format', 'shell', 'argv', 'cwd', 'env', 'stdin', 'outputs', 'extra'];
    expect(known(detail.material as object, material)).toEqual(material);
  });

  it('counts the hits and the last one', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'a'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', 'echo', 'a'], at('2024-08-27T10:00:00'));
    box.dcache(['run', '--', 'echo', 'a'], at('2024-08-27T11:00:00'));
    const [key] = keys(box);
    const detail = JSON.parse(box.dcache(['show', '--json', key!]).stdout.toString()) as { hits: number; lastHitAt: string };
    expect(detail.hits).toBe(2);
    expect(detail.lastHitAt).toBe('2024-08-27T09:00:00.000Z');
  });

  it('counts only the hits of the current recording: none after a re-recording, until it is replayed', ({ box }) => {
    const args = ['run', '--', 'echo', 'a'];
    box.dcache(args, at('2024-08-27T09:00:00'));
    box.dcache(args, at('2024-08-27T15:00:00'));
    // the next day's first call records again
    box.dcache(args, at('2024-08-28T06:00:00'));
    const [key] = keys(box);
    const hits = () => {
      const detail = JSON.parse(box.dcache(['show', '--json', key!]).stdout.toString()) as { recordedAt: string; hits: number; lastHitAt: string | null };
      const shown = plain(box.dcache(['show', key!], at('2024-08-28T08:00:00')).stdout.toString()).match(/^hits +(.*)$/m)![1];
      return { recordedAt: detail.recordedAt, hits: detail.hits, lastHitAt: detail.lastHitAt, shown };
    };
    expect(hits()).toEqual({ recordedAt: '2024-08-28T04:00:00.000Z', hits: 0, lastHitAt: null, shown: '0' });
    box.dcache(args, at('2024-08-28T07:00:00'));
    expect(hits()).toEqual({ recordedAt: '2024-08-28T04:00:00.000Z', hits: 1, lastHitAt: '2024-08-28T05:00:00.000Z', shown: '1, last 2024-08-28 07:00:00 +02:00' });
  });

  it('never counts a hit made with the clock set before the recording, as DCACHE_NOW can', ({ box }) => {
    const args = ['run', '-p', 'forever', '--', 'echo', 'a'];
    box.dcache(args, at('2024-08-28T06:00:00'));
    // under forever an entry recorded "after now" still replays
    expect(box.dcache(['run', '-v', ...args.slice(1)], at('2024-08-27T12:00:00')).stderr).toMatch(/^dcache: hit: /);
    const [key] = keys(box);
    const detail = JSON.parse(box.dcache(['show', '--json', key!]).stdout.toString()) as { hits: number; lastHitAt: string | null };
    expect(detail).toMatchObject({ hits: 0, lastHitAt: null });
    expect(plain(box.dcache(['show', key!]).stdout.toString())).toMatch(/^hits +0$/m);
  });
});

describe('dcache show with a prefix that does not name one entry', () => {
  it('lists the candidates of an ambiguous prefix on stderr and exits 2', ({ box }) => {
    const { prefix, matching } = sharedPrefix(recordSeventeen(box));
    const r = box.dcache(['show', prefix]);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines[0]).toBe(`dcache: key prefix '${prefix}' matches ${matching.length} entries; give more of the key:`);
    // every line of dcache's own starts with dcache:, the list's too
    expect(lines.slice(1).map((line) => line.replace(/^dcache: /, '').trim().split(/ +/)[0]).sort()).toEqual([...matching].sort());
    for (const line of lines.slice(1)) expect(line).toMatch(/^dcache: +[0-9a-f]{16} +echo \d+$/);
  });

  it('exits 1 for a prefix that matches no entry', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'a']);
    const [key] = keys(box);
    const other = key![0] === 'f' ? '0' : 'f';
    const r = box.dcache(['show', `${other}${key!.slice(1, 6)}`]);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe(`dcache: no entry's key starts with '${other}${key!.slice(1, 6)}' (see dcache ls)\n`);
  });

  it('exits 1 in an empty cache', ({ box }) => {
    const r = box.dcache(['show', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('');
  });

  it('exits 2 for something that is not a key prefix', ({ box }) => {
    const r = box.dcache(['show', 'xyz']);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toMatch(/^dcache: 'xyz' is not a key prefix; keys are 16 hexadecimal digits/);
  });

  it('exits 2 without a prefix', ({ box }) => {
    const r = box.dcache(['show']);
    expect(r.code).toBe(2);
    expect(plain(r.stderr)).toMatch(/missing required argument 'key-prefix'/);
  });
});

describe('dcache show of a damaged entry', () => {
  it('treats an entry whose manifest is garbled as absent', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'a']);
    const [key] = keys(box);
    const dir = join(box.cacheDir, 'entries', key!.slice(0, 2));
    for (const name of readdirSync(dir)) writeFileSync(join(dir, name), readFileSync(join(dir, name), 'utf8').slice(0, 20));
    const r = box.dcache(['show', key!]);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('');
  });
});
