import { types } from 'node:util';
import { unstorable } from './arguments.js';
import type { ErrorClass } from './types.js';

// What a cached function threw, in a form that can be stored and thrown
// again (with cacheErrors): an error comes back as the same built-in class
// (TypeError, RangeError, AggregateError, DOMException...) with its name,
// message, stack, cause, AggregateError's errors, and its own enumerable
// properties (code, errno, syscall, path, status...). An error of a class
// of the caller's comes back as that class if it was given in
// errorClasses (made without running its constructor), else as the
// nearest built-in class it extends, with its name and properties. A
// thrown value that is not an error (throw 'no', throw { status: 404 })
// comes back as itself, if it could be stored as a result.

export type StoredThrown = { error: StoredError } | { value: unknown };

export interface StoredError {
  // the class's name, and the nearest built-in class in its prototype chain
  className: string;
  base: BuiltIn;
  name: string;
  message: string;
  stack: string | undefined;
  // present only when the error has one
  cause?: StoredThrown;
  errors?: StoredThrown[];
  props: Record<string, StoredThrown>;
}

const BUILT_INS = ['AggregateError', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError', 'DOMException', 'Error'] as const;
type BuiltIn = (typeof BUILT_INS)[number];

// How deep causes and nested errors are followed.
const MAX_DEPTH = 16;

// The stored form of what was thrown, and what of it was left out (a
// property that cannot be stored: "error.response is a Response"); or, if
// the thrown value itself cannot be stored, why.
export function storeThrown(thrown: unknown): { stored: StoredThrown; left: string[] } | { unstorable: string } {
  const left: string[] = [];
  if (!isError(thrown)) {
    const bad = unstorable(thrown, 'the thrown value');
    return bad === null ? { stored: { value: thrown }, left } : { unstorable: bad };
  }
  return { stored: { error: storeError(thrown, 'error', left, 0, new Set()) }, left };
}

function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

function storeError(error: Error, path: string, left: string[], depth: number, seen: Set<object>): StoredError {
  seen.add(error);
  const part = (value: unknown, at: string): StoredThrown | null => {
    if (isError(value)) {
      if (seen.has(value) || depth >= MAX_DEPTH) {
        left.push(`${at} is ${seen.has(value) ? 'an error that contains itself' : 'nested too deep'}`);
        return null;
      }
      return { error: storeError(value, at, left, depth + 1, seen) };
    }
    const bad = unstorable(value, at);
    if (bad === null) return { value };
    left.push(bad);
    return null;
  };
  const stored: StoredError = {
    className: (error.constructor as { name?: unknown } | undefined)?.name === undefined ? 'Error' : String(error.constructor.name),
    base: baseOf(error),
    name: String(error.name),
    message: String(error.message),
    stack: typeof error.stack === 'string' ? error.stack : undefined,
    props: {},
  };
  if (Object.hasOwn(error, 'cause')) {
    const cause = part(error.cause, `${path}.cause`);
    if (cause !== null) stored.cause = cause;
  }
  if (stored.base === 'AggregateError' && Array.isArray((error as AggregateError).errors)) {
    stored.errors = (error as AggregateError).errors.flatMap((item: unknown, i: number) => part(item, `${path}.errors[${i}]`) ?? []);
  }
  for (const key of Object.keys(error)) {
    // name is kept above; stack, message and cause are not enumerable on an
    // error made by a constructor, but may be on one assembled by hand
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue;
    const value = part((error as unknown as Record<string, unknown>)[key], `${path}.${key}`);
    if (value !== null) stored.props[key] = value;
  }
  seen.delete(error);
  return stored;
}

// The nearest built-in error class in the prototype chain, by name, so
// that an error made in another realm (a vm context) is known too.
function baseOf(error: Error): BuiltIn {
  for (let proto = Object.getPrototypeOf(error) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    const name = (Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as { name?: unknown } | undefined)?.name;
    const builtIn = BUILT_INS.find((b) => b === name);
    if (builtIn !== undefined) return builtIn;
  }
  return 'Error';
}

// What was thrown, made again: the same class for a built-in one or one in
// `classes` (by class name), else the nearest built-in class.
export function rebuildThrown(stored: StoredThrown, classes: ReadonlyMap<string, ErrorClass>): unknown {
  if ('value' in stored) return stored.value;
  return rebuildError(stored.error, classes);
}

function rebuildError(stored: StoredError, classes: ReadonlyMap<string, ErrorClass>): Error {
  const registered = classes.get(stored.className);
  let error: Error;
  if (stored.base === 'DOMException') {
    error = Reflect.construct(DOMException, [stored.message, stored.name], registered ?? DOMException) as Error;
  } else if (stored.base === 'AggregateError') {
    const errors = (stored.errors ?? []).map((item) => rebuildThrown(item, classes));
    error = Reflect.construct(AggregateError, [errors, stored.message], registered ?? AggregateError) as Error;
  } else {
    const Base = (globalThis as unknown as Record<BuiltIn, ErrorConstructor>)[stored.base];
    error = Reflect.construct(Base, [stored.message], registered ?? Base) as Error;
  }
  // as the error had them: own, not enumerable
  const own = (key: string, value: unknown) => Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: false });
  if (stored.stack !== undefined) own('stack', stored.stack);
  if (stored.cause !== undefined) own('cause', rebuildThrown(stored.cause, classes));
  // a name other than the class's was set on the error itself
  // (error.name = 'FetchError'); a DOMException's is set by its constructor
  if (error.name !== stored.name) Object.defineProperty(error, 'name', { value: stored.name, writable: true, configurable: true, enumerable: true });
  for (const [key, value] of Object.entries(stored.props)) (error as unknown as Record<string, unknown>)[key] = rebuildThrown(value, classes);
  return error;
}
