import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../src/schema/manifest.js';
import { blobsOf, validateManifest } from '../../../src/schema/manifest.js';

function validManifest(): Record<string, unknown> {
  return {
    format: 2,
    key: '8c59f3b361ef3743',
    material: {
      kind: 'command',
      format: 2,
      shell: false,
      argv: ['curl', '-s', 'https://example.com/data.csv'],
      cwd: '/home/ada/project',
      env: [
        ['REGION', null],
        ['TOKEN', '0123456789abcdef'],
      ],
      stdin: null,
      outputs: ['data/raw.csv'],
      extra: null,
    },
    recordedAt: 1_724_763_600_000,
    durationMs: 1234,
    exitCode: 0,
    policies: ['daily'],
    tz: null,
    stdout: { hash: '00000000000000000000000000000000000000000000000000000000000000aa', size: 10 },
    stderr: { hash: '00000000000000000000000000000000000000000000000000000000000000bb', size: 3 },
    order: { hash: '00000000000000000000000000000000000000000000000000000000000000cc', size: 2 },
    outputs: [
      { path: 'data', type: 'dir', mode: 0o755 },
      { path: 'data/raw.csv', type: 'file', mode: 0o644, blob: { hash: '00000000000000000000000000000000000000000000000000000000000000dd', size: 5 } },
      { path: 'data/latest', type: 'symlink', target: 'raw.csv' },
    ],
    validators: [
      { kind: 'path', source: 'in.csv', id: 'path:in.csv', files: [{ path: 'in.csv', size: 3, mtimeMs: 1_724_763_000_000.5, hash: '00000000000000000000000000000000000000000000000000000000000000ee' }] },
      { kind: 'url', source: 'https://***@example.com/x', id: 'url:00ff', etag: '"abc"', lastModified: null, contentLength: '3', bodyHash: null },
      { kind: 'cmd', source: 'gsutil stat gs://b/o', id: 'cmd:gsutil stat gs://b/o', exitCode: 0, stdoutHash: '00000000000000000000000000000000000000000000000000000000000000ff' },
      { kind: 'unknown', source: 'https://example.com/y', id: 'url:00ee', of: 'url' },
    ],
  };
}

// Returns a valid manifest with one change applied.
function withChange(change: (m: Record<string, unknown>) => void): Record<string, unknown> {
  const m = validManifest();
  change(m);
  return m;
}

const material = (m: Record<string, unknown>) => m.material as Record<string, unknown>;

describe('validateManifest', () => {
  it('accepts a valid manifest and returns it unchanged', () => {
    expect(validateManifest(validManifest())).toEqual({ ok: true, value: validManifest() });
  });

  it('accepts a manifest of a run that printed nothing', () => {
    const silent = withChange((m) => {
      m.stdout = null;
      m.stderr = null;
      m.order = null;
    });
    expect(validateManifest(silent).ok).toBe(true);
  });

  it.each<[string, (m: Record<string, unknown>) => void]>([
    ['a missing key', (m) => delete m.key],
    ['missing key material', (m) => delete m.material],
    ['key material with an empty argv', (m) => (material(m).argv = [])],
    ['a recordedAt given as a string', (m) => (m.recordedAt = '2024-08-27')],
    ['exit code 256', (m) => (m.exitCode = 256)],
    ['a negative stdout size', (m) => (m.stdout = { hash: '00000000000000000000000000000000000000000000000000000000000000aa', size: -1 })],
    ['a stderr hash that is not 16 hex digits', (m) => (m.stderr = { hash: 'xyz', size: 3 })],
    ['a missing order field', (m) => delete m.order],
    ['a missing outputs field', (m) => delete m.outputs],
    ['a missing validators field', (m) => delete m.validators],
    ['a validator of an unknown kind', (m) => ((m.validators as unknown[])[0] = { kind: 'ftp', source: 'x' })],
    ['a file fingerprint without a hash', (m) => ((m.validators as unknown[])[0] = { kind: 'path', source: 'a', files: [{ path: 'a', size: 1, mtimeMs: 1 }] })],
    ['a probe fingerprint without an exit code', (m) => ((m.validators as unknown[])[2] = { kind: 'cmd', source: 'x', stdoutHash: '00000000000000000000000000000000000000000000000000000000000000ff' })],
    ['an output of no type', (m) => ((m.outputs as unknown[])[0] = { path: 'data', mode: 0o644 })],
    ['an output file without a blob', (m) => ((m.outputs as unknown[])[1] = { path: 'data/raw.csv', type: 'file', mode: 0o644 })],
    ['an output mode beyond 0o7777', (m) => ((m.outputs as unknown[])[0] = { path: 'data', type: 'dir', mode: 0o10000 })],
    ['a symlink without a target', (m) => ((m.outputs as unknown[])[2] = { path: 'data/latest', type: 'symlink' })],
    ['an order with stderr absent', (m) => (m.stderr = null)],
  ])('rejects a manifest with %s as garbled', (_what, change) => {
    const validated = validateManifest(withChange(change));
    expect(validated.ok).toBe(false);
    if (validated.ok) return;
    expect(validated.error.reason).toBe('garbled');
  });

  it('sets apart, as foreign, a manifest written by a newer release', () => {
    expect(validateManifest(withChange((m) => (m.format = 3)))).toEqual({
      ok: false,
      error: { reason: 'foreign', detail: 'manifest of a newer format (3)' },
    });
  });

  it('sets apart, as foreign, key material of a kind this version does not know', () => {
    expect(validateManifest(withChange((m) => (m.material = { kind: 'notebook-cell', name: 'load' })))).toEqual({
      ok: false,
      error: { reason: 'foreign', detail: 'key material of a kind this version does not know' },
    });
  });

  it('reads the key material of a function of the library, and calls one without its hashes garbled', () => {
    const material = { kind: 'function', format: 2, name: 'load', source: 'a'.repeat(64), args: 'b'.repeat(64), namespace: null };
    const read = validateManifest(withChange((m) => (m.material = material)));
    expect(read.ok && read.value.material).toEqual(material);
    const garbled = validateManifest(withChange((m) => (m.material = { ...material, args: 'not a hash' })));
    expect(garbled.ok).toBe(false);
    expect(!garbled.ok && garbled.error.reason).toBe('garbled');
  });

  it('sets apart, as foreign, an output of a type this version does not know', () => {
    const m = withChange((x) => ((x.outputs as unknown[]).push({ path: 'data/fifo', type: 'fifo' })));
    expect(validateManifest(m)).toEqual({ ok: false, error: { reason: 'foreign', detail: 'an output of a type this version does not know' } });
  });

  it('accepts, and keeps, fields and source kinds this version does not know', () => {
    const m = withChange((x) => {
      x.writtenBy = 'dcache 9.0';
      (x.validators as unknown[]).push({ kind: 's3', source: 's3://b/k', id: 's3:b/k', etag: '"e"' });
    });
    expect(validateManifest(m)).toEqual({ ok: true, value: m });
  });

  it.each([null, 'manifest', [validManifest()]])('rejects the non-object %j as garbled', (value) => {
    expect(validateManifest(value)).toEqual({ ok: false, error: { reason: 'garbled', detail: 'not an object' } });
  });

  it('returns a result rather than throwing whatever JSON value a field holds', () => {
    const odd = [undefined, null, true, -1, 1e300, '', 'x', [], [null], {}, { hash: null }];
    for (const field of Object.keys(validManifest())) {
      for (const value of odd) {
        expect(() => validateManifest(withChange((m) => (m[field] = value)))).not.toThrow();
      }
    }
  });
});

describe('blobsOf', () => {
  it('lists a blob shared by stdout and stderr once', () => {
    const m = withChange((x) => {
      x.stderr = { hash: '00000000000000000000000000000000000000000000000000000000000000aa', size: 10 };
      x.order = null;
      x.outputs = [];
    }) as unknown as Manifest;
    expect(blobsOf(m).map((b) => b.hash)).toEqual(['00000000000000000000000000000000000000000000000000000000000000aa']);
  });

  it('lists the blobs of output files after the streams', () => {
    const m = validManifest() as unknown as Manifest;
    expect(blobsOf(m).map((b) => b.hash)).toEqual(['00000000000000000000000000000000000000000000000000000000000000aa', '00000000000000000000000000000000000000000000000000000000000000bb', '00000000000000000000000000000000000000000000000000000000000000cc', '00000000000000000000000000000000000000000000000000000000000000dd']);
  });
});
