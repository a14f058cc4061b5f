import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MANIFEST_LIMITS, nestingDepth, parseDocument } from '../../../src/core/json-document.js';

// Documents from the cache or a remote are bounded in length and nesting
// before they are parsed: the depth counted by scanning the text must be the
// depth of the value JSON.parse would build, for every JSON text.

// The nesting of a parsed value: a scalar is 0, [] and {} are 1.
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

describe('nestingDepth', () => {
  it('is the depth of the value JSON.parse builds, for any JSON text (strings with brackets, quotes and escapes included)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        expect(nestingDepth(text, 100)).toBe(depthOf(value));
      }),
      { seed: 26, numRuns: 500 },
    );
  });

  it('stops counting one level past the limit', () => {
    expect(nestingDepth('['.repeat(1000) + ']'.repeat(1000), 40)).toBe(41);
  });
});

describe('parseDocument', () => {
  it('refuses a valid JSON text nested deeper than the limit, whatever the field', () => {
    const deep = `{"format":2,"unknown":${'['.repeat(6000)}${']'.repeat(6000)}}`;
    const parsed = parseDocument(deep, MANIFEST_LIMITS);
    expect(parsed).toEqual({ ok: false, error: 'nested deeper than 32 levels' });
  });

  it('refuses a text longer than the limit without parsing it', () => {
    const parsed = parseDocument(`"${'x'.repeat(100)}"`, { maxLength: 50, maxDepth: 4 });
    expect(parsed).toEqual({ ok: false, error: 'longer than 50 characters' });
  });

  it('parses every document within the limits as JSON.parse does', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const text = JSON.stringify(value);
        expect(parseDocument(text, MANIFEST_LIMITS)).toEqual({ ok: true, value: JSON.parse(text) });
      }),
      { seed: 26, numRuns: 300 },
    );
  });

  it('says a text that is not JSON is not, and an empty one is empty', () => {
    expect(parseDocument('{"a":', MANIFEST_LIMITS)).toEqual({ ok: false, error: 'not valid JSON' });
    expect(parseDocument('  ', MANIFEST_LIMITS)).toEqual({ ok: false, error: 'empty' });
  });
});
