import { createHash } from 'node:crypto';
import { types } from 'node:util';
import { keyOf, node } from './arguments.js';
import { readBound } from './bound-function.js';

// What stands in the key for a cached function's code, as a SHA-256, so
// that two different functions never share an entry:
// - `version`, when the caller gives one: their own name for the code,
//   which a build step (tsc, a bundler, a minifier) does not change;
// - else the function's source text: editing the function starts new
//   entries;
// - a bound function (`load.bind(null, 'P1')`, the counterpart of Python's
//   functools.partial): the identity of the function it calls, with the
//   `this` and the arguments it is bound to, encoded as arguments are;
// - a native function or a Proxy has no source to read: it needs `version`.
// A bound `this` or argument that cannot be encoded (an instance of a
// class) needs `key`, which then says what tells the bindings apart.

type AnyFunction = (...args: never[]) => unknown;

export interface IdentityOptions {
  version: string | undefined;
  // a namespace or a key function was given (options.key)
  keyed: boolean;
}

// The identity, or a TypeError saying what to pass instead.
export function functionIdentity(fn: AnyFunction, label: string, options: IdentityOptions): string {
  return identify(fn, label, options, 0);
}

// A bound function of a bound function... is read down to this depth.
const MAX_DEPTH = 32;

function identify(fn: AnyFunction, label: string, options: IdentityOptions, depth: number): string {
  const version = options.version;
  if (types.isProxy(fn)) {
    if (version !== undefined) return ofVersion(version);
    throw new TypeError(`${label} is a Proxy, whose source cannot be read; pass options.version (your name for what it does, changed whenever that changes)`);
  }
  const source = Function.prototype.toString.call(fn);
  if (!isSourceless(source)) return version !== undefined ? ofVersion(version) : sha256(source);
  if (!fn.name.startsWith('bound ')) {
    if (version !== undefined) return ofVersion(version);
    throw new TypeError(`${label} is a native function, whose source cannot be read; pass options.version (your name for what it does, changed whenever that changes)`);
  }
  const parts = depth < MAX_DEPTH ? readBound(fn) : null;
  if (parts === null) {
    if (version !== undefined && options.keyed) return ofVersion(version);
    throw new TypeError(
      `${label} is a bound function whose target and bound values cannot be read here; cache the function itself and pass what it is bound to as arguments, ` +
        'or pass both options.version and options.key (one per binding)',
    );
  }
  const target = identify(parts.target, `${label}'s target`, options, depth + 1);
  const self = boundDigest(parts.self, 'this', label, options);
  const args = boundDigest(parts.args, 'arguments', label, options);
  return node('bound', [target, self, args]).toString('hex');
}

// V8 prints a function it has no source for as `function name() { [native
// code] }`: built-ins, bound functions and proxies of functions.
function isSourceless(source: string): boolean {
  return /^function [\w$ ]*\(\) \{ \[native code\] \}$/.test(source);
}

function boundDigest(value: unknown, what: string, label: string, options: IdentityOptions): Buffer | string {
  const keyed = keyOf(value, what);
  if (keyed.ok) return keyed.value;
  // the caller's key says what tells the bindings apart
  if (options.keyed) return 'named by options.key';
  const { path, what: found } = keyed.error;
  throw new TypeError(
    `${label} is bound to ${found} (its bound ${path}), which cannot be part of the key; cache the function itself (see docs/library.md on methods), ` +
      `or pass options.key naming this binding (e.g. key: 'eu')`,
  );
}

// Marked so that no source text can hash alike: a function's text never
// starts with a NUL.
function ofVersion(version: string): string {
  return sha256(`\0version\0${version}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
