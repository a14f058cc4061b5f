import type { CacheKey } from '../core/hash.js';
import { xxh64 } from '../core/xxh64.js';
import { toHex64 } from '../core/hash.js';

// Bumped whenever the meaning of the key material or of a manifest changes,
// so that entries written by another release are misses, never misreadings.
export const KEY_FORMAT = 2;

// Everything that selects an entry: of a command (dcache run) or of a
// function call (the library's cached()). It is stored whole in the
// manifest and compared on read, so two materials whose hashes collide are
// a miss. `kind` says what made the entry; a kind this version does not know
// (written by a newer one) is never compared equal, and never damage.
export type KeyMaterial = CommandMaterial | FunctionMaterial | FetchMaterial;

export interface CommandMaterial {
  kind: 'command';
  format: typeof KEY_FORMAT;
  // true when argv is a single string run through /bin/sh -c
  shell: boolean;
  argv: string[];
  // absolute working directory, or null with --no-cwd
  cwd: string | null;
  // [name, hash of value] of each --env variable, sorted by name; null hash = unset
  env: Array<[string, string | null]>;
  // hash of standard input with --stdin
  stdin: string | null;
  // declared output paths, as given
  outputs: string[];
  // --key text
  extra: string | null;
}

// A call of a function wrapped by cached(): its name, the SHA-256 of its
// source text (an edited function starts new entries), the SHA-256 of its
// arguments' canonical encoding, and the namespace (the `key` option).
export interface FunctionMaterial {
  kind: 'function';
  format: typeof KEY_FORMAT;
  name: string;
  source: string;
  args: string;
  namespace: string | null;
}

// A `dcache fetch`: the source (an object, a prefix or a glob of keys, as
// a URL without credentials) and where it goes: the absolute path of -o, or
// null for standard output. --key text namespaces it as it does a command.
export interface FetchMaterial {
  kind: 'fetch';
  format: typeof KEY_FORMAT;
  source: string;
  dest: string | null;
  extra: string | null;
}

export function buildFetchMaterial(source: string, dest: string | null, extra: string | null): FetchMaterial {
  return { kind: 'fetch', format: KEY_FORMAT, source, dest, extra };
}

export interface KeyInputs {
  argv: string[];
  cwd: string | null;
  shell?: boolean;
  env?: Array<[string, string | null]>;
  stdin?: string | null;
  outputs?: string[];
  extra?: string | null;
}

export function buildKeyMaterial(inputs: KeyInputs): CommandMaterial {
  return {
    kind: 'command',
    format: KEY_FORMAT,
    shell: inputs.shell ?? false,
    argv: [...inputs.argv],
    cwd: inputs.cwd,
    env: [...(inputs.env ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    stdin: inputs.stdin ?? null,
    outputs: [...(inputs.outputs ?? [])],
    extra: inputs.extra ?? null,
  };
}

// The exact bytes that are hashed. An array keeps the order fixed whatever
// order the object's properties were created in.
export function canonicalKeyText(m: KeyMaterial): string {
  if (m.kind === 'function') return JSON.stringify(['function', m.format, m.name, m.source, m.args, m.namespace]);
  if (m.kind === 'fetch') return JSON.stringify(['fetch', m.format, m.source, m.dest, m.extra]);
  return JSON.stringify([m.format, m.shell, m.argv, m.cwd, m.env, m.stdin, m.outputs, m.extra]);
}

export function deriveKey(m: KeyMaterial): CacheKey {
  return toHex64(xxh64(Buffer.from(canonicalKeyText(m), 'utf8'))) as CacheKey;
}

export function sameKeyMaterial(a: KeyMaterial, b: KeyMaterial): boolean {
  return canonicalKeyText(a) === canonicalKeyText(b);
}

// Whether an untrusted value is a command's key material this version reads.
export function isKeyMaterial(v: unknown): v is KeyMaterial {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const m = v as Record<string, unknown>;
  if (m.kind === 'function') {
    const sha256 = (x: unknown) => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x);
    return (
      m.format === KEY_FORMAT &&
      typeof m.name === 'string' &&
      m.name !== '' &&
      sha256(m.source) &&
      sha256(m.args) &&
      (m.namespace === null || typeof m.namespace === 'string')
    );
  }
  if (m.kind === 'fetch') {
    return (
      m.format === KEY_FORMAT &&
      typeof m.source === 'string' &&
      m.source !== '' &&
      (m.dest === null || typeof m.dest === 'string') &&
      (m.extra === null || typeof m.extra === 'string')
    );
  }
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((item) => typeof item === 'string');
  return (
    m.kind === 'command' &&
    m.format === KEY_FORMAT &&
    typeof m.shell === 'boolean' &&
    strings(m.argv) &&
    m.argv.length > 0 &&
    (m.cwd === null || typeof m.cwd === 'string') &&
    Array.isArray(m.env) &&
    m.env.every(
      (pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && (pair[1] === null || typeof pair[1] === 'string'),
    ) &&
    (m.stdin === null || typeof m.stdin === 'string') &&
    strings(m.outputs) &&
    (m.extra === null || typeof m.extra === 'string')
  );
}

// Key material of a kind this version does not know: an entry of a newer
// version, left alone.
export function isForeignMaterial(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const kind = (v as { kind?: unknown }).kind;
  return typeof kind === 'string' && kind !== 'command' && kind !== 'function' && kind !== 'fetch';
}
