import { optionName } from '../engine/wording.js';
import { parseZone } from '../policy/clock.js';
import { parseDuration } from '../policy/duration.js';
import { checkPolicySpec, editDistance, POLICY_HELP } from '../policy/policy.js';
import { parseWatch } from '../sources/registry.js';
import { DEFAULT_REMOTE_TIMEOUT_MS, parseRemote } from '../store/remote/registry.js';
import type { Keying } from './arguments.js';
import type { CachedOptions, ErrorClass, PolicyCheck } from './types.js';

// The options of cached(), and their check when cached() is called: a
// mistake is a TypeError there, naming the option and what it accepts, not
// a failure at the first call (or never, for a misspelt name that plain
// JavaScript would ignore).

// The options as the rest of the library takes them.
export interface CheckedOptions {
  name: string;
  enabled: boolean;
  // the named policies; undefined: the config's, else daily
  policy: string[] | undefined;
  checks: PolicyCheck[];
  tz: string | undefined;
  watch: string[];
  watchCmd: string[];
  dir: string | undefined;
  remote: string | undefined;
  namespace: string | undefined;
  keying: Keying;
  version: string | undefined;
  staleWhileRevalidate: string | undefined;
  cacheErrors: boolean;
  classes: ReadonlyMap<string, ErrorClass>;
  now: (() => Date | number) | undefined;
}

type Checked = { ok: true } | { ok: false; problem: string };
const fine: Checked = { ok: true };
const problem = (text: string): Checked => ({ ok: false, problem: text });
// A value of the wrong type: the message says what the option accepts.
const mismatch: Checked = { ok: false, problem: '' };

// Each option: what it accepts (for the message), and its check.
const OPTIONS: Record<keyof CachedOptions, { accepts: string; check(value: unknown): Checked }> = {
  policy: {
    accepts: `a policy (${POLICY_HELP}), a function (entry) => boolean, or a list of them`,
    check: (value) => eachOf(value, (spec) => (typeof spec === 'string' ? fromEngine(checkPolicySpec(spec)) : typeof spec === 'function' ? fine : null)),
  },
  tz: { accepts: 'an IANA time zone name, e.g. Europe/Paris', check: (value) => (typeof value === 'string' ? fromEngine(parseZone(value)) : mismatch) },
  watch: {
    accepts: 'a path, glob, http(s)://, s3://, gs:// or az:// URL, or a list of them',
    check: (value) => eachOf(value, (source) => (typeof source === 'string' ? fromEngine(parseWatch([source], [], undefined)) : null)),
  },
  watchCmd: {
    accepts: 'a command line, or a list of them',
    check: (value) => eachOf(value, (command) => (typeof command === 'string' ? fromEngine(parseWatch([], [command], undefined)) : null)),
  },
  dir: {
    accepts: 'a directory path, or null for no caching',
    check: (value) => (value === null || (typeof value === 'string' && value.trim() !== '') ? fine : mismatch),
  },
  enabled: { accepts: 'true or false', check: (value) => (typeof value === 'boolean' ? fine : mismatch) },
  remote: {
    accepts: 'a URL: redis://, http(s)://, s3://, gs:// or az://',
    check: (value) => (typeof value === 'string' ? fromEngine(parseRemote(value, false, DEFAULT_REMOTE_TIMEOUT_MS)) : mismatch),
  },
  key: {
    accepts: 'a string (a namespace), or a function of the arguments that returns the key',
    check: (value) => (typeof value === 'string' || typeof value === 'function' ? fine : mismatch),
  },
  ignore: {
    accepts: 'a list of argument positions, 0 for the first, e.g. [1]',
    check: (value) => (Array.isArray(value) && value.every((i) => Number.isSafeInteger(i) && (i as number) >= 0) ? fine : mismatch),
  },
  version: { accepts: "a non-empty string, e.g. '3' or '2024-06-01'", check: (value) => (typeof value === 'string' && value !== '' ? fine : mismatch) },
  staleWhileRevalidate: {
    accepts: 'a duration, e.g. 1h or 2d',
    check: (value) => (typeof value === 'string' ? fromEngine(parseDuration(value), 'options.staleWhileRevalidate ') : mismatch),
  },
  cacheErrors: { accepts: 'true or false', check: (value) => (typeof value === 'boolean' ? fine : mismatch) },
  errorClasses: {
    accepts: 'a list of classes that extend Error',
    check: (value) => (Array.isArray(value) && value.every((c) => typeof c === 'function' && c.prototype instanceof Error) ? fine : mismatch),
  },
  now: { accepts: 'a function returning a Date or epoch milliseconds', check: (value) => (typeof value === 'function' ? fine : mismatch) },
  name: { accepts: 'a non-empty string', check: (value) => (typeof value === 'string' && value !== '' ? fine : mismatch) },
};

const NAMES = Object.keys(OPTIONS) as Array<keyof CachedOptions>;

// Checks the options given to cached() for `fn`, and returns them in the
// form the library uses; throws a TypeError naming the first bad one.
export function checkOptions(given: unknown, fnName: string): CheckedOptions {
  if (given === undefined) given = {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new TypeError(`cached(${fnName}): the options must be an object, e.g. { policy: 'daily' }; got ${describe(given)}`);
  }
  const options = given as Record<string, unknown>;
  const prefix = `cached(${typeof options.name === 'string' && options.name !== '' ? options.name : fnName})`;
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(OPTIONS, key)) throw new TypeError(`${prefix}: unknown option '${key}'${nearest(key)}; the options are ${NAMES.join(', ')}`);
    if (value === undefined) continue;
    const option = OPTIONS[key as keyof CachedOptions];
    const checked = option.check(value);
    if (checked.ok) continue;
    throw new TypeError(`${prefix}: ${checked.problem || `options.${key} must be ${option.accepts}; got ${describe(value)}`}`);
  }
  const o = options as CachedOptions;
  const name = o.name ?? fnName;
  if (name === '') throw new TypeError('cached(): the function has no name; give it one, or pass options.name (the name the entries are kept and listed under)');
  if (typeof o.key === 'function' && o.ignore !== undefined) {
    throw new TypeError(`${prefix}: give options.ignore or a key function, not both (the key function sees every argument)`);
  }
  const classes = new Map<string, ErrorClass>();
  for (const errorClass of o.errorClasses ?? []) {
    const other = classes.get(errorClass.name);
    if (other !== undefined && other !== errorClass) throw new TypeError(`${prefix}: options.errorClasses holds two classes named ${errorClass.name}; an error is matched by its class's name`);
    classes.set(errorClass.name, errorClass);
  }
  if (classes.size > 0 && o.cacheErrors !== true) throw new TypeError(`${prefix}: options.errorClasses needs cacheErrors: true (without it no error is kept)`);
  const specs = o.policy === undefined ? undefined : list(o.policy);
  const named = specs?.filter((spec): spec is string => typeof spec === 'string');
  const checks = specs?.filter((spec): spec is PolicyCheck => typeof spec === 'function') ?? [];
  return {
    name,
    enabled: o.enabled !== false && o.dir !== null,
    // policy functions alone: the entry is used for as long as they say
    policy: named === undefined ? undefined : named.length > 0 ? named : ['forever'],
    checks,
    tz: o.tz,
    watch: list(o.watch),
    watchCmd: list(o.watchCmd),
    dir: o.dir ?? undefined,
    remote: o.remote,
    namespace: typeof o.key === 'string' ? o.key : undefined,
    keying:
      typeof o.key === 'function'
        ? { kind: 'function', key: o.key as (this: unknown, ...args: unknown[]) => unknown }
        : o.ignore !== undefined && o.ignore.length > 0
          ? { kind: 'ignore', positions: new Set(o.ignore) }
          : { kind: 'all' },
    version: o.version,
    staleWhileRevalidate: o.staleWhileRevalidate,
    cacheErrors: o.cacheErrors === true,
    classes,
    now: o.now,
  };
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

// One value or a non-empty list, each item checked by `item` (null: of the
// wrong type).
function eachOf(value: unknown, item: (v: unknown) => Checked | null): Checked {
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) return mismatch;
  for (const v of items) {
    const checked = item(v);
    if (checked === null) return mismatch;
    if (!checked.ok) return checked;
  }
  return fine;
}

// A check shared with the command line names its flag (--policy 'x' is
// not a policy...): here, the option.
function fromEngine(result: { ok: true } | { ok: false; error: string }, lead = ''): Checked {
  if (result.ok) return fine;
  return problem(`${lead}${inOptionWords(result.error)}`);
}

// A message that starts with a flag of dcache run (--stale-while-revalidate
// '…'), in the words of cached()'s options (options.staleWhileRevalidate '…').
export function inOptionWords(message: string): string {
  return message.replace(/^--([\w-]+)/, (_all, flag: string) => optionName('function', flag));
}

function nearest(key: string): string {
  const scored = NAMES.map((name) => ({ name, distance: editDistance(key.toLowerCase(), name.toLowerCase()) }));
  const best = scored.sort((a, b) => a.distance - b.distance)[0]!;
  return best.distance <= Math.max(2, Math.floor(best.name.length / 3)) ? ` (did you mean ${best.name}?)` : '';
}

// A value as a message shows it: 'sometimes', true, 3, null, a function,
// an array, an object.
function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  return typeof value === 'symbol' ? 'a symbol' : 'an object';
}
