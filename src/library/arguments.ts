import { createHash } from 'node:crypto';
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';

// The arguments of a cached function, as the key sees them: a SHA-256 over
// a canonical encoding, so that equal arguments give one key whatever the
// order of an object's properties, a Map's entries or a Set's members.
// Arguments may be JSON values (and undefined), Dates, BigInts, Buffers and
// typed arrays, Maps and Sets; anything else is a TypeError that names it.
//
// Each value's digest covers a tag and its content; a composite value's
// content is its parts' digests (a Merkle tree), so nothing is held twice in
// memory and no encoding of one value can be read as another's.

export const ACCEPTED = 'JSON values, undefined, Dates, BigInts, Buffers, typed arrays, Maps and Sets';

// Which arguments make the key: all of them (the default); all but those at
// the given positions (joblib's `ignore`); or whatever a key function
// returns for them, called with the call's `this`.
export type Keying =
  | { kind: 'all' }
  | { kind: 'ignore'; positions: ReadonlySet<number> }
  | { kind: 'function'; key: (this: unknown, ...args: unknown[]) => unknown };

// A value the key cannot hold: where it is ("argument 2.rows[1]") and what
// it is ("a function").
export interface Unkeyable {
  path: string;
  what: string;
}

export function argumentsDigest(name: string, args: readonly unknown[]): string {
  return callDigest(name, undefined, args, { kind: 'all' });
}

// The digest of one call's arguments, as `keying` selects them. An argument
// left out by position is a fixed placeholder, so that leaving out the
// second of three arguments is not the key of a call with two.
export function callDigest(name: string, self: unknown, args: readonly unknown[], keying: Keying): string {
  switch (keying.kind) {
    case 'all':
    case 'ignore': {
      const parts = args.map((arg, i) =>
        keying.kind === 'ignore' && keying.positions.has(i) ? node('ignored', []) : orRefuse(name, keyOf(arg, `argument ${i + 1}`), 'arguments'),
      );
      return node('args', parts).toString('hex');
    }
    case 'function': {
      const chosen = keying.key.apply(self, [...args]);
      if (isThenable(chosen)) throw new TypeError(`${name}(): options.key returned a promise; a key function returns the key at once`);
      return node('key', [orRefuse(name, keyOf(chosen, 'the result of options.key'), 'key')]).toString('hex');
    }
  }
}

// The digest of one value, or what in it the key cannot hold.
export function keyOf(value: unknown, path: string): Result<Buffer, Unkeyable> {
  try {
    return ok(digest(value, path, new Set()));
  } catch (err) {
    if (err instanceof Refused) return fail({ path: err.path, what: err.what });
    throw err;
  }
}

export function isThenable(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function orRefuse(name: string, keyed: Result<Buffer, Unkeyable>, what: 'arguments' | 'key'): Buffer {
  if (keyed.ok) return keyed.value;
  const { path, what: found } = keyed.error;
  throw new TypeError(`${name}(): ${path} is ${found}; a cached function's ${what === 'arguments' ? 'arguments' : 'key'} may be ${ACCEPTED}`);
}

export function node(tag: string, parts: readonly (Buffer | string)[]): Buffer {
  const hash = createHash('sha256').update(`${tag}:${parts.length}:`);
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    hash.update(`${bytes.length}:`).update(bytes);
  }
  return hash.digest();
}

// Thrown inside digest() only, and turned into a value by keyOf().
class Refused {
  constructor(
    readonly path: string,
    readonly what: string,
  ) {}
}

const byHex = (a: Buffer, b: Buffer) => Buffer.compare(a, b);

function digest(value: unknown, path: string, seen: Set<object>): Buffer {
  switch (typeof value) {
    case 'undefined':
      return node('undefined', []);
    case 'boolean':
      return node('boolean', [String(value)]);
    case 'number':
      return node('number', [Object.is(value, -0) ? '-0' : String(value)]);
    case 'bigint':
      return node('bigint', [value.toString()]);
    case 'string':
      return node('string', [value]);
    case 'object':
      break;
    default:
      throw new Refused(path, `a ${typeof value}`);
  }
  if (value === null) return node('null', []);
  if (seen.has(value)) throw new Refused(path, 'a value that contains itself');
  seen.add(value);
  try {
    if (value instanceof Date) return node('date', [String(value.getTime())]);
    if (Buffer.isBuffer(value)) return node('buffer', [value]);
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      return node(`typed:${value.constructor.name}`, [bytes]);
    }
    // Array.from: a hole in a sparse array is undefined
    if (Array.isArray(value)) return node('array', Array.from(value, (item, i) => digest(item, `${path}[${i}]`, seen)));
    if (value instanceof Map) {
      const pairs = [...value].map(([k, v], i) => node('entry', [digest(k, `${path} (a key of the Map)`, seen), digest(v, `${path}.get(key ${i + 1})`, seen)]));
      return node('map', pairs.sort(byHex));
    }
    if (value instanceof Set) {
      return node('set', [...value].map((item) => digest(item, `${path} (a member of the Set)`, seen)).sort(byHex));
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name;
      throw new Refused(path, kind ? `a ${kind}` : 'an object of a class');
    }
    const keys = Object.keys(value).sort();
    const parts: Buffer[] = [];
    for (const key of keys) parts.push(node('property', [key, digest((value as Record<string, unknown>)[key], `${path}.${key}`, seen)]));
    return node('object', parts);
  } finally {
    seen.delete(value);
  }
}

// Whether a result can be stored and given back as it was: the same types
// as arguments. The first part that cannot, as "result.rows[3] is a Foo".
export function unstorable(value: unknown, path = 'result', seen = new Set<object>()): string | null {
  switch (typeof value) {
    case 'undefined':
    case 'boolean':
    case 'number':
    case 'bigint':
    case 'string':
      return null;
    case 'object':
      break;
    default:
      return `${path} is a ${typeof value}`;
  }
  if (value === null || value instanceof Date || Buffer.isBuffer(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView))) return null;
  if (seen.has(value)) return null;
  seen.add(value);
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const bad = unstorable(item, `${path}[${i}]`, seen);
      if (bad !== null) return bad;
    }
    return null;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const bad = unstorable(k, `${path} (a key of the Map)`, seen) ?? unstorable(v, `${path} (a value of the Map)`, seen);
      if (bad !== null) return bad;
    }
    return null;
  }
  if (value instanceof Set) {
    for (const item of value) {
      const bad = unstorable(item, `${path} (a member of the Set)`, seen);
      if (bad !== null) return bad;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const kind = (value as { constructor?: { name?: string } }).constructor?.name;
    return `${path} is ${kind ? `a ${kind}` : 'an object of a class'}`;
  }
  for (const [key, item] of Object.entries(value)) {
    const bad = unstorable(item, `${path}.${key}`, seen);
    if (bad !== null) return bad;
  }
  return null;
}
