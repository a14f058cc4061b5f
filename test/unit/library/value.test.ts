import { describe, expect, it } from 'vitest';
import { argumentsDigest, callDigest, unstorable } from '../../../src/library/arguments.js';
import { storeThrown } from '../../../src/library/thrown.js';
import { decodeValue, encodeThrown, encodeValue, HEADER_BYTES } from '../../../src/library/value.js';

// The library's key for arguments and its stored form of values.

const digest = (...args: unknown[]) => argumentsDigest('f', args);
const roundTrip = (value: unknown) => {
  const decoded = decodeValue(Buffer.concat(encodeValue(value)));
  if (decoded.thrown) throw new Error('decoded as thrown');
  return decoded.value;
};

describe('the digest of arguments', () => {
  it('does not depend on the order of an object’s properties, a Map’s entries or a Set’s members', () => {
    expect(digest({ a: 1, b: [1, 2] })).toBe(digest({ b: [1, 2], a: 1 }));
    expect(digest(new Map<unknown, unknown>([['x', 1], [2, 'y']]))).toBe(digest(new Map<unknown, unknown>([[2, 'y'], ['x', 1]])));
    expect(digest(new Set([1, 'a', null]))).toBe(digest(new Set([null, 'a', 1])));
  });

  it('tells apart values that JSON would confuse, and arrays in another order', () => {
    const distinct = [
      digest(1),
      digest('1'),
      digest(1n),
      digest(new Date(1)),
      digest([]),
      digest({}),
      digest(new Map()),
      digest(new Set()),
      digest(null),
      digest(undefined),
      digest(),
      digest(-0),
      digest(0),
      digest(Buffer.from([1])),
      digest(new Uint8Array([1])),
      digest(new Int8Array([1])),
      digest([1, 2]),
      digest([2, 1]),
      digest(1, 2),
      digest([1], 2),
      digest({ a: 'b' }),
      digest({ ab: '' }),
    ];
    expect(new Set(distinct).size).toBe(distinct.length);
  });

  it('refuses what it cannot key, naming the function, the argument and the path', () => {
    expect(() => digest('ok', { rows: [1, () => 2] })).toThrow(
      new TypeError(
        "f(): argument 2.rows[1] is a function; a cached function's arguments may be JSON values, undefined, Dates, BigInts, Buffers, typed arrays, Maps and Sets",
      ),
    );
    class Customer {}
    expect(() => digest(new Customer())).toThrow(/^f\(\): argument 1 is a Customer; /);
    expect(() => digest(Symbol('s'))).toThrow(/^f\(\): argument 1 is a symbol; /);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => digest(loop)).toThrow(/^f\(\): argument 1\.self is a value that contains itself; /);
  });
});

describe('the stored form of a value', () => {
  it('gives back JSON values, Dates, BigInts, Maps, Sets, Buffers and typed arrays', () => {
    const value = {
      rows: [{ id: 1, name: 'acme', tags: ['a'] }],
      at: new Date(1_700_000_000_000),
      big: 2n ** 70n,
      map: new Map<unknown, unknown>([[1, new Set(['x'])]]),
      bytes: Buffer.from('hi'),
      floats: new Float32Array([1.5, 2.5]),
      nothing: null,
      missing: undefined,
    };
    const back = roundTrip(value) as typeof value;
    expect(back).toEqual(value);
    expect(back.bytes).toBeInstanceOf(Buffer);
    expect(back.floats).toBeInstanceOf(Float32Array);
    expect(back.at).toBeInstanceOf(Date);
  });

  it('writes a Buffer result as itself, and reads it back as a view of the bytes read', () => {
    const big = Buffer.alloc(1 << 20, 7);
    const pieces = encodeValue(big);
    expect(pieces[1]).toBe(big);
    const stored = Buffer.concat(pieces);
    const back = decodeValue(stored);
    expect(back.thrown).toBe(false);
    expect((back as { value: Buffer }).value.buffer).toBe(stored.buffer);
    expect((back as { value: Buffer }).value.equals(big)).toBe(true);
  });

  it('reads a typed array back as a view when its bytes are aligned, and as a copy when not', () => {
    const floats = new Float64Array([1, 2, 3]);
    const aligned = Buffer.alloc(HEADER_BYTES + floats.byteLength);
    Buffer.concat(encodeValue(floats)).copy(aligned);
    const view = decodeValue(aligned) as { value: Float64Array };
    expect(view.value).toEqual(floats);
    expect(view.value.buffer).toBe(aligned.buffer);
    const shifted = Buffer.alloc(HEADER_BYTES + floats.byteLength + 1).subarray(1);
    Buffer.concat(encodeValue(floats)).copy(shifted);
    expect((decodeValue(shifted) as { value: Float64Array }).value).toEqual(floats);
  });

  it('keeps a thrown error’s name, message and stack', () => {
    const error = new RangeError('no such customer');
    const stored = storeThrown(error);
    if (!('stored' in stored)) throw new Error(stored.unstorable);
    const back = decodeValue(Buffer.concat(encodeThrown(stored.stored)));
    expect(back.thrown).toBe(true);
    const thrown = (back as { error: Error }).error;
    expect([thrown.name, thrown.message, thrown.stack]).toEqual(['RangeError', 'no such customer', error.stack]);
  });

  it('refuses bytes of another format', () => {
    expect(() => decodeValue(Buffer.from('{"json": true}'))).toThrow('not a value of this format');
  });

  it('says which part of a result cannot be stored', () => {
    class Row {}
    expect(unstorable({ rows: [new Row()] })).toBe('result.rows[0] is a Row');
    expect(unstorable({ rows: [1, 'a', new Date(), 2n, new Map([[1, new Set([2])]])] })).toBeNull();
  });
});

describe('the digest of a call', () => {
  const args = ['https://eu', { verbose: true }];
  it('puts a placeholder where an argument is left out, so that fewer arguments are another key', () => {
    const ignoring = callDigest('f', undefined, args, { kind: 'ignore', positions: new Set([1]) });
    expect(ignoring).toBe(callDigest('f', undefined, ['https://eu', { verbose: false }], { kind: 'ignore', positions: new Set([1]) }));
    expect(ignoring).not.toBe(callDigest('f', undefined, ['https://eu'], { kind: 'all' }));
    expect(callDigest('f', undefined, args, { kind: 'all' })).toBe(argumentsDigest('f', args));
  });

  it('keys by what a key function returns for the arguments and this, and names what in it cannot be keyed', () => {
    const key = function (this: { base: string }, url: unknown) {
      return [this.base, url];
    };
    const digest = (base: string) => callDigest('f', { base }, args, { kind: 'function', key: key as (this: unknown, ...a: unknown[]) => unknown });
    expect(digest('eu')).not.toBe(digest('us'));
    expect(digest('eu')).toBe(digest('eu'));
    expect(() => callDigest('f', undefined, args, { kind: 'function', key: () => [() => 1] })).toThrow(
      new TypeError("f(): the result of options.key[0] is a function; a cached function's key may be JSON values, undefined, Dates, BigInts, Buffers, typed arrays, Maps and Sets"),
    );
    expect(() => callDigest('f', undefined, args, { kind: 'function', key: async () => 1 })).toThrow('f(): options.key returned a promise; a key function returns the key at once');
  });
});
