import { parseZone } from '../policy/clock.js';
import { parseDuration } from '../policy/duration.js';
import { checkPolicySpec, editDistance, POLICY_HELP } from '../policy/policy.js';
import { parseWatch } from '../sources/registry.js';
import { DEFAULT_REMOTE_TIMEOUT_MS, parseRemote } from '../store/remote/registry.js';

// The options of cached(), and their check when cached() is called: a
// mistake is a TypeError there, naming the option and what it accepts, not
// a failure at the first call (or never, for a misspelt name that plain
// JavaScript would ignore).

export interface CachedOptions {
  // one or several policies, as --policy (default: the config's, else daily)
  policy?: string | string[];
  // the zone of calendar policies, as --tz
  tz?: string;
  // sources whose change makes an entry stale, as --watch: paths, globs,
  // http(s)://, s3://, gs://, az:// URLs
  watch?: string | string[];
  // probe commands, as --watch-cmd
  watchCmd?: string | string[];
  // the cache directory, as --dir
  dir?: string;
  // the shared cache, as --remote
  remote?: string;
  // a namespace mixed into the key, as --key
  key?: string;
  // your own name for the function's code, in the key instead of its
  // source text: the same across a tsc build, a tsx run and a minifier
  version?: string;
  // as --stale-while-revalidate: a recently stale value is returned at once
  // and refreshed in the background of this process
  staleWhileRevalidate?: string;
  // keep a thrown error too, and throw it again while it is fresh
  cacheErrors?: boolean;
  // the time, for tests (default: DCACHE_NOW, else the clock)
  now?: () => Date | number;
  // the name under which entries are kept and listed (default: fn.name)
  name?: string;
}

// The options as the rest of the library takes them.
export interface CheckedOptions {
  name: string;
  // undefined: the config's, else daily
  policy: string[] | undefined;
  tz: string | undefined;
  watch: string[];
  watchCmd: string[];
  dir: string | undefined;
  remote: string | undefined;
  namespace: string | undefined;
  version: string | undefined;
  staleWhileRevalidate: string | undefined;
  cacheErrors: boolean;
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
    accepts: `a policy (${POLICY_HELP}) or a list of them`,
    check: (value) => eachOf(value, (spec) => (typeof spec === 'string' ? fromEngine(checkPolicySpec(spec)) : null)),
  },
  tz: { accepts: 'an IANA time zone name, e.g. Europe/Paris', check: (value) => (typeof value === 'string' ? fromEngine(parseZone(value)) : null) ?? mismatch },
  watch: {
    accepts: 'a path, glob, http(s)://, s3://, gs:// or az:// URL, or a list of them',
    check: (value) => eachOf(value, (source) => (typeof source === 'string' ? fromEngine(parseWatch([source], [], undefined)) : null)),
  },
  watchCmd: {
    accepts: 'a command line, or a list of them',
    check: (value) => eachOf(value, (command) => (typeof command === 'string' ? fromEngine(parseWatch([], [command], undefined)) : null)),
  },
  dir: { accepts: 'a directory path', check: (value) => (typeof value === 'string' && value.trim() !== '' ? fine : mismatch) },
  remote: {
    accepts: 'a URL: redis://, http(s)://, s3://, gs:// or az://',
    check: (value) => (typeof value === 'string' ? fromEngine(parseRemote(value, false, DEFAULT_REMOTE_TIMEOUT_MS)) : null) ?? mismatch,
  },
  key: { accepts: 'a string (a namespace)', check: (value) => (typeof value === 'string' ? fine : mismatch) },
  version: { accepts: "a non-empty string, e.g. '3' or '2024-06-01'", check: (value) => (typeof value === 'string' && value !== '' ? fine : mismatch) },
  staleWhileRevalidate: {
    accepts: 'a duration, e.g. 1h or 2d',
    check: (value) => (typeof value === 'string' ? fromEngine(parseDuration(value), 'options.staleWhileRevalidate ') : null) ?? mismatch,
  },
  cacheErrors: { accepts: 'true or false', check: (value) => (typeof value === 'boolean' ? fine : mismatch) },
  now: { accepts: 'a function returning a Date or epoch milliseconds', check: (value) => (typeof value === 'function' ? fine : mismatch) },
  name: { accepts: 'a non-empty string', check: (value) => (typeof value === 'string' && value !== '' ? fine : mismatch) },
};

const NAMES = Object.keys(OPTIONS) as Array<keyof CachedOptions>;

// Checks the options given to cached() for `fn`, and returns them in the
// form the library uses; throws a TypeError naming the first bad one.
export function checkOptions(given: unknown, fnName: string): CheckedOptions {
  const nameOf = (o: Record<string, unknown>) => (typeof o.name === 'string' && o.name !== '' ? o.name : fnName);
  if (given === undefined) given = {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new TypeError(`cached(${fnName}): the options must be an object, e.g. { policy: 'daily' }; got ${describe(given)}`);
  }
  const options = given as Record<string, unknown>;
  const prefix = `cached(${nameOf(options)})`;
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
  return {
    name,
    policy: o.policy === undefined ? undefined : list(o.policy),
    tz: o.tz,
    watch: list(o.watch),
    watchCmd: list(o.watchCmd),
    dir: o.dir,
    remote: o.remote,
    namespace: o.key,
    version: o.version,
    staleWhileRevalidate: o.staleWhileRevalidate,
    cacheErrors: o.cacheErrors === true,
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

// An engine's message names the flag (--policy 'x' is not a policy...):
// here, the option.
function fromEngine(result: { ok: true } | { ok: false; error: string }, lead = ''): Checked {
  if (result.ok) return fine;
  const text = result.error.replace(/^--([\w-]+)/, (_all, flag: string) => `options.${flag.replace(/-(\w)/g, (_a, c: string) => c.toUpperCase())}`);
  return problem(`${lead}${text}`);
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
