import { createHash } from 'node:crypto';

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

export function argumentsDigest(name: string, args: readonly unknown[]): string {
  const seen = new Set<object>();
  const digests = args.map((arg, i) => digest(arg, `argument ${i + 1}`, name, seen));
  return node('args', digests).toString('hex');
}

function node(tag: string, parts: readonly (Buffer | string)[]): Buffer {
  const hash = createHash('sha256').update(`${tag}:${parts.length}:`);
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    hash.update(`${bytes.length}:`).update(bytes);
  }
  return hash.digest();
}

const byHex = (a: Buffer, b: Buffer) => Buffer.compare(a, b);

function digest(value: unknown, path: string, name: string, seen: Set<object>): Buffer {
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
      throw refused(name, path, `a ${typeof value}`);
  }
  if (value === null) return node('null', []);
  if (seen.has(value)) throw refused(name, path, 'a value that contains itself');
  seen.add(value);
  try {
    if (value instanceof Date) return node('date', [String(value.getTime())]);
    if (Buffer.isBuffer(value)) return node('buffer', [value]);
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      return node(`typed:${value.constructor.name}`, [bytes]);
    }
    // Array.from: a hole in a sparse array is undefined
    if (Array.isArray(value)) return node('array', Array.from(value, (item, i) => digest(item, `${path}[${i}]`, name, seen)));
    if (value instanceof Map) {
      const pairs = [...value].map(([k, v], i) => node('entry', [digest(k, `${path} (a key of the Map)`, name, seen), digest(v, `${path}.get(key ${i + 1})`, name, seen)]));
      return node('map', pairs.sort(byHex));
    }
    if (value instanceof Set) {
      return node('set', [...value].map((item) => digest(item, `${path} (a member of the Set)`, name, seen)).sort(byHex));
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name;
      throw refused(name, path, kind ? `a ${kind}` : 'an object of a class');
    }
    const keys = Object.keys(value).sort();
    const parts: Buffer[] = [];
    for (const key of keys) parts.push(node('property', [key, digest((value as Record<string, unknown>)[key], `${path}.${key}`, name, seen)]));
    return node('object', parts);
  } finally {
    seen.delete(value);
  }
}

function refused(name: string, path: string, what: string): TypeError {
  return new TypeError(`${name}(): ${path} is ${what}; a cached function's arguments may be ${ACCEPTED}`);
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
