import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The README is the front door: what dcache is, a quick start, the everyday
// recipes and links. The manual is docs/; a README that grows past this is
// taking the guide's place again.
const MAX_LINES = 400;

describe('the README', () => {
  it(`stays a front door of at most ${MAX_LINES} lines`, () => {
    const lines = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8').trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(MAX_LINES);
  });
});
