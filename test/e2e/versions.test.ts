import { readFileSync, writeFileSync } from 'node:fs';
import { manifests } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// Versions of dcache that share a cache directory must not destroy each
// other's entries. An entry written by a newer version (a newer format, a
// source kind or a field this version does not know) is a miss or a hit as
// it deserves, and is never dropped as damage: run, status, ls and gc leave
// it in place.

// Records `echo <word>`, then rewrites its manifest as `change` says, as a
// newer version would have written it; returns the manifest's path and text.
function fromNewerVersion(box: Sandbox, word: string, change: (m: Record<string, unknown>) => void): { path: string; text: string } {
  box.dcache(['run', '--', 'echo', word]);
  const [path] = manifests(box.cacheDir);
  const manifest = JSON.parse(readFileSync(path!, 'utf8')) as Record<string, unknown>;
  change(manifest);
  const text = JSON.stringify(manifest);
  writeFileSync(path!, text);
  return { path: path!, text };
}

describe('an entry with a source kind and a field this version does not know', () => {
  const newer = (box: Sandbox) =>
    fromNewerVersion(box, 'hi', (m) => {
      m.writtenBy = 'dcache 9.0';
      (m.validators as unknown[]).push({ kind: 'hdfs', source: 'hdfs://exports/customers.csv', id: 'hdfs:exports/customers.csv', generation: '17' });
    });

  it('is replayed by run, and left in place', ({ box }) => {
    const { path, text } = newer(box);
    const r = box.dcache(['run', '-v', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toMatch(/^dcache: hit: /);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('is fresh for status, and left in place', ({ box }) => {
    const { path, text } = newer(box);
    expect(box.dcache(['status', '--', 'echo', 'hi']).code).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('is listed by ls and described by show, and left in place', ({ box }) => {
    const { path, text } = newer(box);
    const listed = JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ key: string }> };
    expect(listed.entries).toHaveLength(1);
    const shown = box.dcache(['show', listed.entries[0]!.key]).stdout.toString();
    expect(shown).toContain('watch              hdfs://exports/customers.csv: a hdfs source, which this version of dcache does not know');
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('is kept by gc', ({ box }) => {
    const { path, text } = newer(box);
    expect(box.dcache(['gc']).stdout.toString()).toMatch(/: 0 entries, /);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });
});

describe('an entry of a newer format', () => {
  const newer = (box: Sandbox) => fromNewerVersion(box, 'hi', (m) => (m.format = 3));

  it('is a miss for run, which runs the command and leaves the entry in place', ({ box }) => {
    const { path, text } = newer(box);
    const r = box.dcache(['run', '-v', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toBe(
      'dcache: miss (the entry was written by a newer version of dcache (manifest of a newer format (3))); running echo hi\n' +
        'dcache: not recorded: the entry under this key was written by a newer version of dcache (manifest of a newer format (3))\n',
    );
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('says nothing without -v', ({ box }) => {
    newer(box);
    const r = box.dcache(['run', '--', 'echo', 'hi']);
    expect(r.stderr).toBe('');
  });

  it('is a miss for status, and left in place', ({ box }) => {
    const { path, text } = newer(box);
    const r = box.dcache(['status', '--', 'echo', 'hi']);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('would run: the entry was written by a newer version of dcache (manifest of a newer format (3))\n');
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('is not listed by ls, and left in place', ({ box }) => {
    const { path, text } = newer(box);
    expect((JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: unknown[] }).entries).toEqual([]);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('is kept by gc', ({ box }) => {
    const { path, text } = newer(box);
    box.dcache(['gc']);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });
});

describe('an entry of an older format', () => {
  it('is removed by gc', ({ box }) => {
    const { path } = fromNewerVersion(box, 'hi', (m) => (m.format = 1));
    expect(box.dcache(['gc']).stdout.toString()).toMatch(/: 1 entry, /);
    expect(() => readFileSync(path)).toThrow();
  });
});
