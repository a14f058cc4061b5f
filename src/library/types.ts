// The types a program that uses the library sees. They import nothing of
// dcache's own: their declarations are what a user's tsc reads, and must
// not pull in the engine's (which name Node's types, which a project need
// not have).

// A type parameter that is not inferred from where it is used (the key
// function's parameters come from the cached function's, not the reverse).
type NotInferred<T> = [T][T extends unknown ? 0 : never];

export interface CachedOptions<A extends unknown[] = unknown[], This = unknown> {
  // One or several policies, as --policy (default: the config's, else
  // daily), each a name or a function of the stored entry that says
  // whether it may be used; every one must hold.
  policy?: string | PolicyCheck | Array<string | PolicyCheck>;
  // the zone of calendar policies, as --tz
  tz?: string;
  // sources whose change makes an entry stale, as --watch: paths, globs,
  // http(s)://, s3://, gs://, az:// URLs
  watch?: string | string[];
  // probe commands, as --watch-cmd
  watchCmd?: string | string[];
  // the cache directory, as --dir; null: caching off (joblib's location=None)
  dir?: string | null;
  // false: caching off, the function is called every time and nothing is
  // read or written
  enabled?: boolean;
  // the shared cache, as --remote
  remote?: string;
  // A namespace mixed into the key, as --key; or a function of the call's
  // arguments (and `this`) whose result is the key instead of them.
  key?: string | ((this: NotInferred<This>, ...args: NotInferred<A>) => unknown);
  // the positions (0 for the first) of arguments left out of the key
  ignore?: number[];
  // your own name for the function's code, in the key instead of its
  // source text: the same across a tsc build, a tsx run and a minifier
  version?: string;
  // as --stale-while-revalidate: a recently stale value is returned at once
  // and refreshed in the background of this process
  staleWhileRevalidate?: string;
  // keep a thrown error too, and throw it again while it is fresh
  cacheErrors?: boolean;
  // classes of your own errors that come back as themselves with cacheErrors
  errorClasses?: ErrorClass[];
  // the time, for tests (default: DCACHE_NOW, else the clock)
  now?: () => Date | number;
  // the name under which entries are kept and listed (default: fn.name)
  name?: string;
}

// What cached() returns: the function, async, with three more ways to call it.
export interface CachedFunction<A extends unknown[], R, This = unknown> {
  (this: This, ...args: A): Promise<Awaited<R>>;
  // Whether a fresh entry exists for these arguments (here or on the
  // remote), without calling the function.
  check(this: This, ...args: A): Promise<boolean>;
  // Calls the function and records its result, whatever the cache holds.
  refresh(this: This, ...args: A): Promise<Awaited<R>>;
  // The entry for these arguments, the function called on a miss; its
  // value is read only by the handle's get().
  entry(this: This, ...args: A): Promise<CachedEntry<Awaited<R>>>;
}

// What fn.entry(...args) gives (joblib's call_and_shelve): a handle to the
// stored result of one call, whose value is read only by get(), so that a
// program can hold many of them without holding their values.
export interface CachedEntry<R> {
  // the entry's key, as `dcache ls` and `show` print it; null with caching off
  readonly key: string | null;
  // whether the value is in the cache; false when caching is off or the
  // value could not be stored, and get() then gives the value held here
  readonly stored: boolean;
  // when the call that produced the value started, and how long it took
  readonly recordedAt: Date;
  readonly durationMs: number;
  // The value stored for this call now (or what it threw, thrown again).
  // Rejects, with code DCACHE_ENTRY_GONE, once the entry is gone (clear(),
  // `dcache clear`, gc).
  get(): Promise<R>;
  // Removes the entry from the cache directory, and the bytes only it used.
  clear(): Promise<void>;
}

// A policy that is a function of the caller's (joblib's
// cache_validation_callback): given what is known of a stored entry, true
// to use it, false to call the function again.
export type PolicyCheck = (entry: EntryInfo) => boolean;

export interface EntryInfo {
  // the function's name, as the entries are listed
  name: string;
  // when the call that recorded the entry started, and how long it took
  recordedAt: Date;
  durationMs: number;
  // how long ago it was recorded (by the cached function's clock)
  ageMs: number;
  // the SHA-256 of the arguments, as the key holds it
  argsDigest: string;
  // the entry holds a thrown error (cacheErrors)
  threw: boolean;
}

// A class of errors of your own, given in errorClasses.
export type ErrorClass = abstract new (...args: never[]) => Error;
