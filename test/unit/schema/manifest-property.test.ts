import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheKey } from '../../../src/core/hash.js';
import { validateManifest } from '../../../src/schema/manifest.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import { testHost } from '../../support/host.js';

// The manifest reader takes data from disk that anyone with access to the
// cache directory (or a crash, or a newer release) may have shaped: random
// and mutated manifests must be refused or accepted, never make it throw.

const KEY = '8c59f3b361ef3743' as CacheKey;

const sha256 = fc.stringMatching(/^[0-9a-f]{64}$/);
const count = fc.nat({ max: 2 ** 40 });
const blobRef = fc.record({ hash: sha256, size: count });
const mode = fc.integer({ min: 0, max: 0o7777 });
const text = fc.string({ maxLength: 12 });

// Manifests that validateManifest must accept, in every shape it knows.
const validManifest = fc
  .record({
    material: fc.record({
      kind: fc.constant('command'),
      format: fc.constant(2),
      shell: fc.boolean(),
      argv: fc.array(text, { minLength: 1, maxLength: 4 }),
      cwd: fc.option(text, { nil: null }),
      env: fc.array(fc.tuple(text, fc.option(sha256, { nil: null })), { maxLength: 3 }),
      stdin: fc.option(sha256, { nil: null }),
      outputs: fc.array(text, { maxLength: 3 }),
      extra: fc.option(text, { nil: null }),
    }),
    recordedAt: fc.nat(),
    durationMs: count,
    exitCode: fc.integer({ min: 0, max: 255 }),
    policies: fc.array(fc.constantFrom('daily', 'hourly', 'ttl:6h', 'cron:0 6 * * 1-5', 'forever'), { maxLength: 3 }),
    tz: fc.option(fc.constantFrom('Europe/Paris', 'America/New_York', 'UTC'), { nil: null }),
    streams: fc.oneof(
      fc.constant({ stdout: null, stderr: null, order: null }),
      fc.record({ stdout: blobRef, stderr: fc.constant(null), order: fc.constant(null) }),
      fc.record({ stdout: fc.constant(null), stderr: blobRef, order: fc.constant(null) }),
      fc.record({ stdout: blobRef, stderr: blobRef, order: fc.option(blobRef, { nil: null }) }),
    ),
    outputs: fc.array(
      fc.oneof(
        fc.record({ path: text, type: fc.constant('file'), mode, blob: blobRef }),
        fc.record({ path: text, type: fc.constant('dir'), mode }),
        fc.record({ path: text, type: fc.constant('symlink'), target: text }),
      ),
      { maxLength: 4 },
    ),
    validators: fc.array(
      fc.oneof(
        fc.record({
          kind: fc.constant('path'),
          source: text,
          id: text,
          files: fc.array(fc.record({ path: text, size: count, mtimeMs: fc.double({ min: 0, max: 2e12, noNaN: true }), hash: sha256 }), {
            maxLength: 2,
          }),
        }),
        fc.record({
          kind: fc.constant('url'),
          source: text,
          id: text,
          etag: fc.option(text, { nil: null }),
          lastModified: fc.option(text, { nil: null }),
          contentLength: fc.option(text, { nil: null }),
          bodyHash: fc.option(sha256, { nil: null }),
        }),
        fc.record({ kind: fc.constant('cmd'), source: text, id: text, exitCode: fc.integer({ min: 0, max: 255 }), stdoutHash: sha256 }),
        fc.record({ kind: fc.constant('unknown'), source: text, id: text, of: fc.constantFrom('path', 'url', 'cmd') }),
      ),
      { maxLength: 3 },
    ),
  })
  .map(({ streams, ...rest }) => ({ format: 2, key: KEY as string, ...rest, ...streams }));

// One change somewhere in a JSON tree: a value replaced, a property
// removed, a value wrapped in an array, or a property added.
interface Mutation {
  at: number;
  action: 'replace' | 'delete' | 'wrap' | 'add';
  value: unknown;
  name: string;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  action: fc.constantFrom('replace', 'delete', 'wrap', 'add'),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(null, -1, 256, 1.5, 2 ** 53, '', 'x', [], {}, '0123456789ABCDEF', 'file', 'symlink', 'dir', 2),
  ),
  name: fc.constantFrom('format', 'key', 'stdout', 'order', 'hash', 'size', 'type', 'kind', '__proto__', 'constructor', 'extra'),
});

// Every [container, property] pair in a JSON tree, parents first.
function slots(value: unknown): Array<[Record<string, unknown> | unknown[], string | number]> {
  const found: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        found.push([v, i]);
        walk(item);
      });
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) {
        found.push([v as Record<string, unknown>, k]);
        walk(item);
      }
    }
  };
  walk(value);
  return found;
}

function mutate(manifest: unknown, mutations: Mutation[]): unknown {
  // through JSON, as a manifest comes from disk (and so that the original is untouched)
  const copy = JSON.parse(JSON.stringify(manifest)) as unknown;
  for (const m of mutations) {
    const all = slots(copy);
    if (all.length === 0) break;
    const [container, prop] = all[m.at % all.length]!;
    const record = container as Record<string | number, unknown>;
    switch (m.action) {
      case 'replace':
        record[prop] = m.value;
        break;
      case 'delete':
        if (Array.isArray(container)) container.splice(prop as number, 1);
        else delete record[prop];
        break;
      case 'wrap':
        record[prop] = [record[prop]];
        break;
      case 'add':
        if (!Array.isArray(container)) Object.defineProperty(container, m.name, { value: m.value, enumerable: true, writable: true, configurable: true });
        break;
    }
  }
  return copy;
}

const mutatedManifest = fc
  .tuple(validManifest, fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([m, mutations]) => mutate(m, mutations));

// A well-formed manifest, as dcache writes one.
const BASE = {
  format: 2,
  key: KEY,
  material: { kind: 'command', format: 2, shell: false, argv: ['./fetch.sh'], cwd: '/srv', env: [], stdin: null, outputs: [], extra: null },
  recordedAt: 1_724_763_600_000,
  durationMs: 12,
  exitCode: 0,
  policies: ['daily'],
  tz: null,
  stdout: { hash: `${'0'.repeat(62)}aa`, size: 10 },
  stderr: null,
  order: null,
  outputs: [],
  validators: [],
};

// A field of a manifest nested `depth` levels deep. JSON.parse reads such
// text without recursion, so it can come from disk as it is.
interface DeepField {
  field: string;
  depth: number;
  open: '[' | '{"a":';
}

const deepField: fc.Arbitrary<DeepField> = fc.record({
  field: fc.constantFrom(...Object.keys(BASE)),
  depth: fc.integer({ min: 1, max: 100_000 }),
  open: fc.constantFrom('[' as const, '{"a":' as const),
});

function deepManifestText({ field, depth, open }: DeepField): string {
  const close = open === '[' ? ']' : '}';
  return JSON.stringify({ ...BASE, [field]: '@@' }).replace('"@@"', `${open.repeat(depth)}1${close.repeat(depth)}`);
}

const noThrow = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch (err) {
    throw new Error(`threw ${String(err)}`);
  }
};

describe('validateManifest on random and mutated manifests', () => {
  it('accepts every well-formed manifest', () => {
    fc.assert(
      fc.property(validManifest, (m) => validateManifest(m).ok),
      { numRuns: 300 },
    );
  });

  it('never throws on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => noThrow(() => validateManifest(v))),
      { numRuns: 500 },
    );
  });

  it('never throws on any JavaScript value', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withMap: true, withSet: true, withDate: true, withTypedArray: true }), (v) =>
        noThrow(() => validateManifest(v)),
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on a mutated manifest, and what it accepts is well-formed', () => {
    fc.assert(
      fc.property(mutatedManifest, (m) => {
        const result = validateManifest(m);
        if (result.ok) {
          // what was accepted still passes after a round trip through JSON
          expect(validateManifest(JSON.parse(JSON.stringify(result.value))).ok).toBe(true);
          expect(result.value.format).toBe(2);
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on a manifest with a deeply nested field, as JSON.parse reads it from disk', () => {
    fc.assert(
      fc.property(deepField, (deep) => noThrow(() => validateManifest(JSON.parse(deepManifestText(deep))))),
      { numRuns: 200 },
    );
  });
});

describe('LocalStore.readEntry on manifest files written to a store', () => {
  let root: string;
  let store: LocalStore;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'dcache-manifest-property-'));
    store = new LocalStore(join(root, 'cache'), testHost());
    mkdirSync(dirname(store.manifestPath(KEY)), { recursive: true });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const STATUSES = ['found', 'absent', 'bad', 'foreign', 'unreadable'];
  const readBack = (contents: string | Uint8Array) => {
    writeFileSync(store.manifestPath(KEY), contents);
    const read = store.readEntry(KEY);
    expect(STATUSES).toContain(read.status);
    if (read.status === 'found') {
      expect(read.manifest.key).toBe(KEY);
      expect(validateManifest(read.manifest).ok).toBe(true);
    }
    return read;
  };

  it('finds a well-formed manifest', () => {
    fc.assert(
      fc.property(validManifest, (m) => readBack(JSON.stringify(m)).status === 'found'),
      { numRuns: 200 },
    );
  });

  it('never throws on random text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.json()), (text) => noThrow(() => readBack(text))),
      { numRuns: 300 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => noThrow(() => readBack(bytes))),
      { numRuns: 300 },
    );
  });

  it('never throws on a mutated manifest, whole or cut short', () => {
    fc.assert(
      fc.property(mutatedManifest, fc.nat(), fc.boolean(), (m, cut, truncate) => {
        const text = JSON.stringify(m);
        return noThrow(() => readBack(truncate ? text.slice(0, cut % (text.length + 1)) : text));
      }),
      { numRuns: 400 },
    );
  });

  it('never throws on a manifest with a deeply nested field', () => {
    fc.assert(
      fc.property(deepField, (deep) => noThrow(() => readBack(deepManifestText(deep)))),
      { numRuns: 200 },
    );
  });
});
