import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readBound } from '../../../src/library/bound-function.js';
import { functionIdentity } from '../../../src/library/function-identity.js';

// What stands in a cached function's key for its code.

const plain = { version: undefined, keyed: false };
const identity = (fn: (...args: never[]) => unknown, options: { version?: string; keyed?: boolean } = {}) =>
  functionIdentity(fn, 'cached(f): the function', { ...plain, ...options });

function part(prefix: string, n: number) {
  return `${prefix}${n}`;
}

class Api {
  constructor(readonly base: string) {}
  fetch(path: string) {
    return this.base + path;
  }
}

describe('the identity of a cached function', () => {
  it('is the SHA-256 of its source text, so that entries recorded before stay valid', () => {
    expect(identity(part)).toBe(createHash('sha256').update(part.toString()).digest('hex'));
  });

  it('tells apart two bound functions of one target by their bound arguments, and finds a binding again', () => {
    const p1 = identity(part.bind(null, 'P1'));
    expect(p1).not.toBe(identity(part.bind(null, 'P2')));
    expect(p1).toBe(identity(part.bind(null, 'P1')));
    expect(p1).not.toBe(identity(part));
  });

  it('tells apart bound functions of two targets with the same name', () => {
    const load = () => 1;
    const other = { load: () => 2 }.load;
    expect(identity(load.bind(null))).not.toBe(identity(other.bind(null)));
  });

  it('tells apart bindings to two plain-object `this` values', () => {
    function total(this: { rate: number }, n: number) {
      return n * this.rate;
    }
    expect(identity(total.bind({ rate: 1 }))).not.toBe(identity(total.bind({ rate: 2 })));
  });

  it('reads a bound function of a bound function down to its target', () => {
    expect(identity(part.bind(null, 'P1').bind(null, 1))).not.toBe(identity(part.bind(null, 'P1').bind(null, 2)));
  });

  it('refuses a binding to an instance of a class, saying to pass key; with key it is accepted', () => {
    const api = new Api('https://eu.example.com');
    expect(() => identity(api.fetch.bind(api))).toThrow(
      new TypeError(
        "cached(f): the function is bound to a Api (its bound this), which cannot be part of the key; cache the function itself (see docs/library.md on methods), or pass options.key naming this binding (e.g. key: 'eu')",
      ),
    );
    expect(identity(api.fetch.bind(api), { keyed: true })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a native function and a Proxy unless given a version', () => {
    expect(() => identity(Math.max)).toThrow(/^cached\(f\): the function is a native function, whose source cannot be read; pass options.version /);
    expect(() => identity(new Proxy(part, {}))).toThrow(/^cached\(f\): the function is a Proxy, whose source cannot be read; pass options.version /);
    expect(identity(Math.max, { version: '1' })).toBe(identity(Math.min, { version: '1' }));
  });

  it('is the version when one is given, whatever the source text, and differs from any source text', () => {
    const a = function load() {
      return 1;
    };
    const b = function load() {
      return /* minified elsewhere */ 1;
    };
    expect(identity(a, { version: '3' })).toBe(identity(b, { version: '3' }));
    expect(identity(a, { version: '3' })).not.toBe(identity(a, { version: '4' }));
    expect(identity(a, { version: '3' })).not.toBe(identity(a));
  });

  it('with a version, still tells bound functions apart by what they are bound to', () => {
    expect(identity(part.bind(null, 'P1'), { version: '1' })).not.toBe(identity(part.bind(null, 'P2'), { version: '1' }));
  });
});

describe('readBound', () => {
  it('gives back the target, the bound this and the bound arguments themselves', () => {
    const self = { rate: 2 };
    const args = [{ nested: [1n] }, new Date(5)];
    const parts = readBound(part.bind(self, ...(args as unknown as [string, number])));
    expect(parts).not.toBeNull();
    expect(parts!.target).toBe(part);
    expect(parts!.self).toBe(self);
    expect(parts!.args[0]).toBe(args[0]);
    expect(parts!.args[1]).toBe(args[1]);
  });

  it('reads primitives, undefined and special numbers bound as this and arguments', () => {
    const parts = readBound(part.bind(undefined, ...([-0, Number.NaN, 10n, undefined] as unknown as [string, number])));
    expect(parts!.self).toBeUndefined();
    expect(parts!.args).toEqual([-0, Number.NaN, 10n, undefined]);
    expect(Object.is(parts!.args[0], -0)).toBe(true);
  });

  it('leaves nothing behind on globalThis', () => {
    const before = Reflect.ownKeys(globalThis).length;
    readBound(part.bind(null, 'P1'));
    expect(Reflect.ownKeys(globalThis).length).toBe(before);
  });
});
