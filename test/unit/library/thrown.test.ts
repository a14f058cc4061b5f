import { describe, expect, it } from 'vitest';
import { runInNewContext } from 'node:vm';
import { rebuildThrown, storeThrown } from '../../../src/library/thrown.js';
import type { ErrorClass } from '../../../src/library/types.js';
import { decodeValue, encodeThrown } from '../../../src/library/value.js';

// What a cached function threw, stored (with cacheErrors) and thrown again.

// Through the bytes of an entry, as a replay reads them.
function roundTrip(thrown: unknown, classes: ErrorClass[] = []): unknown {
  const stored = storeThrown(thrown);
  if (!('stored' in stored)) throw new Error(`not storable: ${stored.unstorable}`);
  const decoded = decodeValue(Buffer.concat(encodeThrown(stored.stored)), new Map(classes.map((c) => [c.name, c])));
  if (!decoded.thrown) throw new Error('decoded as a value');
  return decoded.error;
}

class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.status >= 500;
  }
}

describe('an error kept with cacheErrors', () => {
  it('comes back as the same built-in class, with its name, message and stack', () => {
    for (const error of [new Error('e'), new TypeError('t'), new RangeError('r'), new SyntaxError('s'), new ReferenceError('f'), new EvalError('v'), new URIError('u')]) {
      const back = roundTrip(error) as Error;
      expect(Object.getPrototypeOf(back)).toBe(Object.getPrototypeOf(error));
      expect([back.name, back.message, back.stack]).toEqual([error.name, error.message, error.stack]);
      expect(back).toBeInstanceOf(Error);
    }
  });

  it('keeps code and the other own enumerable properties, as Node’s system errors have them', () => {
    const error = Object.assign(new Error("ENOENT: no such file or directory, open 'x.csv'"), { code: 'ENOENT', errno: -2, syscall: 'open', path: 'x.csv' });
    const back = roundTrip(error) as NodeJS.ErrnoException;
    expect([back.code, back.errno, back.syscall, back.path]).toEqual(['ENOENT', -2, 'open', 'x.csv']);
    expect(Object.keys(back)).toEqual(['code', 'errno', 'syscall', 'path']);
  });

  it('keeps a cause, itself an error or a value, and leaves none where there was none', () => {
    const error = new TypeError('outer', { cause: new RangeError('inner', { cause: { status: 503 } }) });
    const back = roundTrip(error) as Error;
    expect(back.cause).toBeInstanceOf(RangeError);
    expect((back.cause as Error).message).toBe('inner');
    expect((back.cause as Error).cause).toEqual({ status: 503 });
    expect(Object.hasOwn(roundTrip(new Error('plain')) as Error, 'cause')).toBe(false);
    expect(Object.getOwnPropertyDescriptor(back, 'cause')?.enumerable).toBe(false);
  });

  it('keeps an AggregateError’s errors, each as itself', () => {
    const back = roundTrip(new AggregateError([new TypeError('a'), 'b', Object.assign(new Error('c'), { code: 'E_C' })], 'all failed')) as AggregateError;
    expect(back).toBeInstanceOf(AggregateError);
    expect(back.message).toBe('all failed');
    expect(back.errors[0]).toBeInstanceOf(TypeError);
    expect(back.errors[1]).toBe('b');
    expect((back.errors[2] as NodeJS.ErrnoException).code).toBe('E_C');
  });

  it('keeps a DOMException’s name, and with it its code', () => {
    const back = roundTrip(new DOMException('the operation was aborted', 'AbortError')) as DOMException;
    expect(back).toBeInstanceOf(DOMException);
    expect([back.name, back.message, back.code]).toEqual(['AbortError', 'the operation was aborted', 20]);
  });

  it('keeps a name set on the error itself', () => {
    const error = new Error('upstream timed out');
    error.name = 'TimeoutError';
    const back = roundTrip(error) as Error;
    expect([back.name, back instanceof Error, String(back)]).toEqual(['TimeoutError', true, 'TimeoutError: upstream timed out']);
  });

  it('brings an error of a class given in errorClasses back as that class, without running its constructor', () => {
    const back = roundTrip(new HttpError(503, 'unavailable'), [HttpError]) as HttpError;
    expect(back).toBeInstanceOf(HttpError);
    expect([back.name, back.message, back.status, back.retryable]).toEqual(['HttpError', 'unavailable', 503, true]);
  });

  it('brings an error of a class not given back as the nearest built-in class, with its name and properties', () => {
    const back = roundTrip(new HttpError(404, 'not found')) as HttpError;
    expect(back).not.toBeInstanceOf(HttpError);
    expect(Object.getPrototypeOf(back)).toBe(Error.prototype);
    expect([back.name, back.message, back.status]).toEqual(['HttpError', 'not found', 404]);
  });

  it('knows a built-in error made in another realm by its class', () => {
    const foreign = runInNewContext('new RangeError("elsewhere")') as Error;
    const back = roundTrip(foreign) as Error;
    expect(back).toBeInstanceOf(RangeError);
    expect(back.message).toBe('elsewhere');
  });

  it('throws again a thrown value that is not an error, as itself', () => {
    expect(roundTrip('upstream is down')).toBe('upstream is down');
    expect(roundTrip({ status: 404, at: new Date(5) })).toEqual({ status: 404, at: new Date(5) });
  });

  it('leaves out, and names, a property it cannot store; refuses a thrown value it cannot store', () => {
    const error = Object.assign(new Error('bad response'), { code: 'E_HTTP', response: new (class Response {})() });
    const stored = storeThrown(error);
    expect('stored' in stored && stored.left).toEqual(['error.response is a Response']);
    expect((roundTrip(error) as NodeJS.ErrnoException).code).toBe('E_HTTP');
    expect(storeThrown(() => 1)).toEqual({ unstorable: 'the thrown value is a function' });
  });

  it('stores an error whose cause is itself, without the loop', () => {
    const error = new Error('loop');
    (error as { cause?: unknown }).cause = error;
    const stored = storeThrown(error);
    expect('stored' in stored && stored.left).toEqual(['error.cause is an error that contains itself']);
    expect(rebuildThrown('stored' in stored ? stored.stored : { value: null }, new Map())).toBeInstanceOf(Error);
  });
});
