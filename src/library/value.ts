import { deserialize, serialize } from 'node:v8';
import { rebuildThrown, type StoredThrown } from './thrown.js';
import type { ErrorClass } from './types.js';

// How a cached function's result is stored: an 8-byte header, then the
// value. The header: "dcv", the format's version, what follows, and for a
// typed array which one. A Buffer or a typed array result is stored as its
// raw bytes after the header (written from the value itself, read back as a
// view of the bytes read: no second copy); anything else with v8.serialize
// (measured against JSON in BENCHMARKS.md), which keeps Dates, BigInts,
// Maps, Sets, Buffers and typed arrays. What a function threw, with
// cacheErrors, is stored as thrown.ts describes it.

export const VALUE_FORMAT = 1;
const MAGIC = 'dcv';
export const HEADER_BYTES = 8;

// (kind 3 held an error's name, message and stack alone: such an entry is
// now a value of an unknown kind, a miss)
const Kind = { Serialized: 0, Buffer: 1, Typed: 2, Thrown: 4 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

const TYPED = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

type Typed = InstanceType<(typeof TYPED)[number]>;

function header(kind: Kind, typed = 0): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES);
  bytes.write(MAGIC, 0, 'latin1');
  bytes[3] = VALUE_FORMAT;
  bytes[4] = kind;
  bytes[5] = typed;
  return bytes;
}

// The bytes to store, as pieces written one after the other.
export function encodeValue(value: unknown): Buffer[] {
  if (Buffer.isBuffer(value)) return [header(Kind.Buffer), value];
  const typed = TYPED.findIndex((ctor) => value instanceof ctor && value.constructor === ctor);
  if (typed !== -1) {
    const view = value as Typed;
    return [header(Kind.Typed, typed), Buffer.from(view.buffer, view.byteOffset, view.byteLength)];
  }
  return [header(Kind.Serialized), serialize(value)];
}

export function encodeThrown(stored: StoredThrown): Buffer[] {
  return [header(Kind.Thrown), serialize(stored)];
}

export type Decoded = { thrown: false; value: unknown } | { thrown: true; error: unknown };

// The value stored in `bytes`; throws on bytes of another format. A thrown
// error of a class in `classes` (by name) is made again as that class.
export function decodeValue(bytes: Buffer, classes: ReadonlyMap<string, ErrorClass> = new Map()): Decoded {
  if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, 3) !== MAGIC || bytes[3] !== VALUE_FORMAT) {
    throw new Error('not a value of this format');
  }
  const body = bytes.subarray(HEADER_BYTES);
  switch (bytes[4]) {
    case Kind.Serialized:
      return { thrown: false, value: deserialize(body) };
    case Kind.Buffer:
      return { thrown: false, value: body };
    case Kind.Typed: {
      const ctor = TYPED[bytes[5]!];
      if (ctor === undefined || body.length % ctor.BYTES_PER_ELEMENT !== 0) throw new Error('a typed array of an unknown kind or length');
      const aligned = body.byteOffset % ctor.BYTES_PER_ELEMENT === 0;
      // a view when the bytes are aligned for it, else a copy
      const source = aligned ? body : copyOf(body);
      return { thrown: false, value: new ctor(source.buffer as ArrayBuffer, source.byteOffset, source.length / ctor.BYTES_PER_ELEMENT) };
    }
    case Kind.Thrown:
      return { thrown: true, error: rebuildThrown(deserialize(body) as StoredThrown, classes) };
    default:
      throw new Error(`a value of an unknown kind (${bytes[4]})`);
  }
}

// A copy in memory of its own, so that it starts aligned.
function copyOf(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}
