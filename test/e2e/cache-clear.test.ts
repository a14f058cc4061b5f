import { filesUnder, listedEntries } from '../support/cache-files.js';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

const at = (now: string, env: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: now, ...env } });

const entries = listedEntries;

const argvs = (box: Sandbox) => entries(box).map((e) => e.argv.join(' '));

const files = (box: Sandbox, dir: string) => filesUnder(join(box.cacheDir, dir));

const bytesOf = (paths: string[]) => paths.reduce((n, p) => n + statSync(p).size, 0);

// Records `echo <word>` for each word, one minute apart from 09:00.
function recordEchoes(box: Sandbox, ...words: string[]): void {
  words.forEach((word, i) => {
    const r = box.dcache(['run', '--', 'echo', word], at(`2024-08-27T09:0${i}:00`));
    expect(r.code).toBe(0);
  });
}

describe('dcache clear <key-prefix>', () => {
  it('removes the entry a prefix names and says how many entries and bytes went', ({ box }) => {
    recordEchoes(box, 'alpha', 'beta');
    const [alpha] = entries(box);
    const before = bytesOf([...files(box, 'entries'), ...files(box, 'blobs')]);
    const r = box.dcache(['clear', alpha!.key.slice(0, 6)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const freed = before - bytesOf([...files(box, 'entries'), ...files(box, 'blobs')]);
    expect(r.stdout.toString()).toBe(`removed 1 entry, ${freed} B\n`);
    expect(argvs(box)).toEqual(['echo beta']);
  });

  it('removes the blobs only the removed entry used, and keeps those another entry shares', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'same']);
    box.dcache(['run', '--key', 'twin', '--', 'echo', 'same']);
    box.dcache(['run', '--', 'echo', 'own']);
    expect(files(box, 'blobs')).toHaveLength(2);
    const [first, , own] = entries(box);
    box.dcache(['clear', first!.key, own!.key]);
    expect(files(box, 'blobs')).toHaveLength(1);
    const twin = box.dcache(['run', '-v', '--key', 'twin', '--', 'echo', 'same']);
    expect(twin.stdout.toString()).toBe('same\n');
    expect(plain(twin.stderr)).toMatch(/^dcache: hit/);
  });

  it('removes every entry named by several prefixes', ({ box }) => {
    recordEchoes(box, 'alpha', 'beta', 'gamma');
    const [alpha, , gamma] = entries(box);
    const r = box.dcache(['clear', alpha!.key.slice(0, 8), gamma!.key.slice(0, 8)]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^removed 2 entries, [\d.]+ (?:B|KiB)\n$/);
    expect(argvs(box)).toEqual(['echo beta']);
  });

  it('makes the next run of the cleared command a miss', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path]);
    box.dcache(['clear', entries(box)[0]!.key]);
    const r = box.dcache(['run', '--', fetch.path]);
    expect(fetch.runs()).toBe(2);
    expect(r.stdout.toString()).toBe('data\n');
  });

  it('lists the candidates of an ambiguous prefix, exits 2 and removes nothing', ({ box }) => {
    box.shell('i=0; while [ $i -le 16 ]; do $DCACHE run --no-cwd -- echo $i >/dev/null; i=$((i+1)); done');
    const keys = entries(box).map((e) => e.key);
    const prefix = keys.map((k) => k[0]!).find((d, i, all) => all.indexOf(d) !== i)!;
    const r = box.dcache(['clear', prefix]);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^dcache: key prefix '${prefix}' matches \\d+ entries; give more of the key:$`));
    expect(lines.slice(1).map((l) => l.replace(/^dcache: /, '').trim().split(/ +/)[0]).sort()).toEqual(keys.filter((k) => k.startsWith(prefix)).sort());
    expect(entries(box)).toHaveLength(17);
  });

  it('exits 1 and removes nothing when one of the prefixes matches no entry', ({ box }) => {
    recordEchoes(box, 'alpha', 'beta');
    const [alpha, beta] = entries(box);
    const unknown = ['0', '1', '2', '3'].find((d) => !alpha!.key.startsWith(d) && !beta!.key.startsWith(d))!;
    const r = box.dcache(['clear', alpha!.key, `${unknown}abc`]);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe(`dcache: no entry's key starts with '${unknown}abc' (see dcache ls)\n`);
    expect(entries(box)).toHaveLength(2);
  });

  it('exits 2 for something that is not a key prefix', ({ box }) => {
    recordEchoes(box, 'alpha');
    const r = box.dcache(['clear', 'not-a-key']);
    expect(r.code).toBe(2);
    expect(plain(r.stderr)).toMatch(/'not-a-key' is not a key prefix/);
    expect(entries(box)).toHaveLength(1);
  });
});

describe('dcache clear --all, --stale and --older-than', () => {
  it('removes every entry and every blob with --all', ({ box }) => {
    recordEchoes(box, 'alpha', 'beta', 'gamma');
    const r = box.dcache(['clear', '--all']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^removed 3 entries, [\d.]+ (?:B|KiB)\n$/);
    expect(entries(box)).toEqual([]);
    expect(files(box, 'blobs')).toEqual([]);
  });

  it('removes the entries no longer fresh under their own policies with --stale', ({ box }) => {
    box.dcache(['run', '-p', 'ttl:1h', '--', 'echo', 'expired'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '-p', 'ttl:6h', '--', 'echo', 'young'], at('2024-08-27T09:00:00'));
    box.dcache(['run', '--', 'echo', 'yesterday'], at('2024-08-26T23:00:00'));
    box.dcache(['run', '--', 'echo', 'today'], at('2024-08-27T00:30:00'));
    const r = box.dcache(['clear', '--stale'], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^removed 2 entries, [\d.]+ (?:B|KiB)\n$/);
    expect(argvs(box).sort()).toEqual(['echo today', 'echo young']);
  });

  it('removes the entries recorded longer ago than --older-than', ({ box }) => {
    box.dcache(['run', '-p', 'forever', '--', 'echo', 'old'], at('2024-08-20T09:00:00'));
    box.dcache(['run', '-p', 'forever', '--', 'echo', 'recent'], at('2024-08-26T09:00:00'));
    const r = box.dcache(['clear', '--older-than', '2d'], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^removed 1 entry, [\d.]+ (?:B|KiB)\n$/);
    expect(argvs(box)).toEqual(['echo recent']);
  });

  it('exits 2 and names the option for an --older-than that is not a duration', ({ box }) => {
    recordEchoes(box, 'alpha');
    const r = box.dcache(['clear', '--older-than', '30']);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toMatch(/^dcache: --older-than '30' is not a duration; use a number and a unit: 90s, 15m, 6h, 1h30m, 2d12h, 1w\n$/);
    expect(entries(box)).toHaveLength(1);
  });

  it('says so when the selection is empty, and exits 0', ({ box }) => {
    recordEchoes(box, 'alpha');
    const r = box.dcache(['clear', '--stale'], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('removed 0 entries, 0 B\n');
    expect(entries(box)).toHaveLength(1);
  });
});

describe('dcache clear -- <command>', () => {
  it('removes the entry dcache run would use for the command, and no other', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo data');
    box.dcache(['run', '--', fetch.path]);
    box.dcache(['run', '--', fetch.path, '--verbose']);
    const r = box.dcache(['clear', '--', fetch.path]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^removed 1 entry, [\d.]+ (?:B|KiB)\n$/);
    expect(argvs(box)).toEqual([`${fetch.path} --verbose`]);
  });

  it('derives the key from the run options that make it: --env values, --key, --output', ({ box }) => {
    const args = ['-e', 'REGION', '--key', 'nightly', '-o', 'out.txt', '--', 'sh', '-c', 'echo x > out.txt'];
    box.dcache(['run', ...args], { env: { REGION: 'eu' } });
    box.dcache(['run', ...args], { env: { REGION: 'us' } });
    const r = box.dcache(['clear', ...args], { env: { REGION: 'us' } });
    expect(r.stdout.toString()).toMatch(/^removed 1 entry, /);
    const left = box.dcache(['run', '-v', ...args], { env: { REGION: 'eu' } });
    expect(plain(left.stderr)).toMatch(/^dcache: hit/);
    const gone = box.dcache(['run', '-v', ...args], { env: { REGION: 'us' } });
    expect(plain(gone.stderr)).toMatch(/^dcache: miss/);
  });

  it('derives the key from --shell, --no-cwd and --stdin as run does', ({ box }) => {
    box.dcache(['run', '--shell', '--', 'echo a | tr a b']);
    box.dcache(['run', '--no-cwd', '--', 'echo', 'anywhere']);
    box.dcache(['run', '--stdin', '--', 'cat'], { input: 'query 1\n' });
    box.dcache(['run', '--stdin', '--', 'cat'], { input: 'query 2\n' });
    expect(box.dcache(['clear', '--shell', '--', 'echo a | tr a b']).stdout.toString()).toMatch(/^removed 1 entry/);
    expect(box.dcache(['clear', '--no-cwd', '--', 'echo', 'anywhere']).stdout.toString()).toMatch(/^removed 1 entry/);
    expect(box.dcache(['clear', '--stdin', '--', 'cat'], { input: 'query 2\n' }).stdout.toString()).toMatch(/^removed 1 entry/);
    const left = box.dcache(['run', '--stdin', '-v', '--', 'cat'], { input: 'query 1\n' });
    expect(plain(left.stderr)).toMatch(/^dcache: hit/);
    expect(entries(box)).toHaveLength(1);
  });

  it('removes nothing when the command was recorded in another directory', ({ box }) => {
    box.dcache(['run', '--', 'echo', 'here']);
    const r = box.dcache(['clear', '--', 'echo', 'here'], { cwd: '/' });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('removed 0 entries, 0 B\n');
    expect(entries(box)).toHaveLength(1);
  });

  it('exits 2 when -- is given without a command', ({ box }) => {
    recordEchoes(box, 'alpha');
    const r = box.dcache(['clear', '--']);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toMatch(/^dcache: clear --: give the command after --\n$/);
    expect(entries(box)).toHaveLength(1);
  });
});

describe('dcache clear without a selector', () => {
  it('removes nothing, says how to select, and exits 2', ({ box }) => {
    recordEchoes(box, 'alpha', 'beta');
    const r = box.dcache(['clear']);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toBe(
      'dcache: nothing selected, nothing removed; give key prefixes, --all, --stale, --older-than <duration> or -- <command>\n',
    );
    expect(entries(box)).toHaveLength(2);
  });

  it('removes nothing with --dry-run alone, and exits 2', ({ box }) => {
    recordEchoes(box, 'alpha');
    const r = box.dcache(['clear', '--dry-run']);
    expect(r.code).toBe(2);
    expect(plain(r.stderr)).toMatch(/^dcache: nothing selected, nothing removed/);
    expect(entries(box)).toHaveLength(1);
  });
});

describe('dcache clear --dry-run', () => {
  it('lists what would go and removes nothing', ({ box }) => {
    recordEchoes(box, 'alpha', 'beta');
    const listed = entries(box);
    const r = box.dcache(['clear', '--all', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines.slice(0, 2)).toEqual([`${listed[0]!.key}  echo alpha`, `${listed[1]!.key}  echo beta`]);
    expect(lines[2]).toMatch(/^would remove 2 entries, [\d.]+ (?:B|KiB) \(--dry-run: nothing removed\)$/);
    expect(entries(box)).toHaveLength(2);
    expect(files(box, 'blobs')).toHaveLength(2);
  });

  it('announces the same number of entries and bytes that clear then removes', ({ box }) => {
    recordEchoes(box, 'alpha', 'beta');
    const dry = box.dcache(['clear', '--all', '--dry-run']).stdout.toString().trimEnd().split('\n').pop()!;
    const real = box.dcache(['clear', '--all']).stdout.toString().trimEnd();
    expect(dry.replace(/^would remove (.*) \(--dry-run: nothing removed\)$/, '$1')).toBe(real.replace(/^removed /, ''));
  });
});
