import { describe, expect, it } from 'vitest';
import type { KeyInputs } from '../../../src/schema/key.js';
import { KEY_FORMAT, buildKeyMaterial, canonicalKeyText, deriveKey, sameKeyMaterial } from '../../../src/schema/key.js';

const base: KeyInputs = {
  argv: ['curl', '-s', 'https://example.com/data.csv'],
  cwd: '/home/ada/project',
  env: [
    ['TOKEN', '0123456789abcdef'],
    ['REGION', null],
  ],
  outputs: ['data/raw.csv'],
  extra: 'nightly',
};

const keyOf = (inputs: KeyInputs): string => deriveKey(buildKeyMaterial(inputs));

describe('buildKeyMaterial', () => {
  it('fills every optional part with its neutral value', () => {
    expect(buildKeyMaterial({ argv: ['make'], cwd: null })).toEqual({
      kind: 'command',
      format: KEY_FORMAT,
      shell: false,
      argv: ['make'],
      cwd: null,
      env: [],
      stdin: null,
      outputs: [],
      extra: null,
    });
  });

  it('sorts environment pairs by name in code-unit order', () => {
    const material = buildKeyMaterial({
      argv: ['make'],
      cwd: null,
      env: [
        ['b', '1111111111111111'],
        ['a', null],
        ['B', '2222222222222222'],
      ],
    });
    expect(material.env.map(([name]) => name)).toEqual(['B', 'a', 'b']);
  });
});

describe('canonicalKeyText', () => {
  it('lays the material out as a fixed-order JSON array', () => {
    expect(canonicalKeyText(buildKeyMaterial(base))).toBe(
      '[2,false,["curl","-s","https://example.com/data.csv"],"/home/ada/project",' +
        '[["REGION",null],["TOKEN","0123456789abcdef"]],null,["data/raw.csv"],"nightly"]',
    );
  });
});

describe('deriveKey', () => {
  // If either of these changes, every user's cache is silently invalidated:
  // bump KEY_FORMAT on purpose instead, and update the pins with it.
  it('derives the pinned key for a fixed full key material', () => {
    expect(keyOf(base)).toBe('87fcd08243b2a5f1');
  });

  it('derives the pinned key for a minimal key material', () => {
    expect(keyOf({ argv: ['echo', 'hi'], cwd: null })).toBe('f05a0943d8f36083');
  });

  it('gives a different key when an argument changes', () => {
    expect(keyOf({ ...base, argv: ['curl', '-s', 'https://example.com/other.csv'] })).not.toBe(keyOf(base));
  });

  it('keeps argument boundaries, so moving a space between arguments changes the key', () => {
    expect(keyOf({ argv: ['echo a', 'b'], cwd: null })).not.toBe(keyOf({ argv: ['echo', 'a b'], cwd: null }));
  });

  it('gives a different key in another working directory', () => {
    expect(keyOf({ ...base, cwd: '/home/ada/other' })).not.toBe(keyOf(base));
  });

  it('gives the key without a working directory (null cwd) its own value, distinct from the root directory', () => {
    expect(keyOf({ ...base, cwd: null })).not.toBe(keyOf({ ...base, cwd: '/' }));
  });

  it('gives the same key whatever order the environment pairs were given in', () => {
    const reversed = [...(base.env ?? [])].reverse();
    expect(keyOf({ ...base, env: reversed })).toBe(keyOf(base));
  });

  it('gives a different key when an environment value hash changes', () => {
    expect(
      keyOf({
        ...base,
        env: [
          ['TOKEN', 'fedcba9876543210'],
          ['REGION', null],
        ],
      }),
    ).not.toBe(keyOf(base));
  });

  it('tells an unset environment variable from one that is set', () => {
    const unset = keyOf({ argv: ['make'], cwd: null, env: [['REGION', null]] });
    const set = keyOf({ argv: ['make'], cwd: null, env: [['REGION', 'ef46db3751d8e999']] });
    expect(unset).not.toBe(set);
  });

  it('tells a shell string from the same text given as a single argument', () => {
    expect(keyOf({ argv: ['ls | wc -l'], cwd: null, shell: true })).not.toBe(keyOf({ argv: ['ls | wc -l'], cwd: null }));
  });

  it('gives a different key when the stdin hash changes', () => {
    expect(keyOf({ ...base, stdin: '1111111111111111' })).not.toBe(keyOf({ ...base, stdin: '2222222222222222' }));
  });

  it('gives a different key when the declared outputs change', () => {
    expect(keyOf({ ...base, outputs: ['data/raw.csv', 'data/meta.json'] })).not.toBe(keyOf(base));
  });

  it('gives a different key when the --key text changes', () => {
    expect(keyOf({ ...base, extra: 'weekly' })).not.toBe(keyOf(base));
  });

  it('treats an omitted --key text like an explicit null', () => {
    const { extra: _omitted, ...withoutExtra } = base;
    expect(keyOf(withoutExtra)).toBe(keyOf({ ...base, extra: null }));
  });
});

describe('sameKeyMaterial', () => {
  it('holds for materials built from the same inputs in a different environment order', () => {
    const reversed = [...(base.env ?? [])].reverse();
    expect(sameKeyMaterial(buildKeyMaterial(base), buildKeyMaterial({ ...base, env: reversed }))).toBe(true);
  });
});
