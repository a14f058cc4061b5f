import type { Call } from '../engine/call.js';
import { getOrRecord, type EngineDeps, type Recipe } from '../engine/get-or-record.js';
import { lookUpLocal, lookUpShared } from '../engine/lookup.js';
import type { Reporter } from '../ports/reporter.js';
import { lockHolder } from '../engine/single-flight.js';
import { describeError } from '../core/errors.js';
import type { Interrupts } from '../ports/interrupts.js';
import { deriveKey, KEY_FORMAT, type FunctionMaterial } from '../schema/key.js';
import type { LocalStore } from '../store/local/local-store.js';
import { RemoteSession } from '../store/remote/session.js';
import { callDigest } from './arguments.js';
import { prepareFunctionCall } from './call-setup.js';
import { heldHandle, storedHandle } from './entry-handle.js';
import { functionIdentity } from './function-identity.js';
import { checkOptions, type CheckedOptions } from './options.js';
import { vetWith } from './policy-check.js';
import { FunctionRecipe, run, type Answer, type FunctionWork, type Outcome } from './recipe.js';
import { libraryReporter } from './reporter.js';
import type { CachedEntry, CachedFunction, CachedOptions } from './types.js';

// The library: cached(fn, options) is fn with its results kept on disk, in
// the same cache, under the same policies, sources, remotes and guarantees
// as `dcache run`. The engine does the work; this file is its second front
// end: the key from the function and its arguments, the value as a blob.

type AnyFunction = (...args: never[]) => unknown;

// Wraps `fn`: each call with the same arguments (and the same code, see
// function-identity.ts) is answered from the cache while the policies say
// it is fresh.
export function cached<A extends unknown[], R, This = unknown>(fn: (this: This, ...args: A) => R, options?: CachedOptions<A, This>): CachedFunction<A, R, This> {
  if (typeof fn !== 'function') throw new TypeError(`cached(): the first argument must be a function, not ${typeof fn}`);
  const checked = checkOptions(options, fn.name);
  const caller = new Caller(fn as AnyFunction, checked);
  const wrapped = async function (this: This, ...args: A): Promise<Awaited<R>> {
    return settle(await caller.value(caller.own(this, wrapped), args, false)) as Awaited<R>;
  };
  const methods = {
    check: async function (this: This, ...args: A): Promise<boolean> {
      return caller.check(caller.own(this, wrapped), args);
    },
    refresh: async function (this: This, ...args: A): Promise<Awaited<R>> {
      return settle(await caller.value(caller.own(this, wrapped), args, true)) as Awaited<R>;
    },
    entry: async function (this: This, ...args: A): Promise<CachedEntry<Awaited<R>>> {
      return caller.entry<Awaited<R>>(caller.own(this, wrapped), args);
    },
  };
  Object.defineProperty(wrapped, 'name', { value: checked.name });
  return Object.assign(wrapped, methods);
}

function settle(outcome: Outcome): unknown {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

// The calls of one cached function.
class Caller {
  private readonly name: string;
  private readonly identity: string;
  private readonly readsThis: boolean;
  private readonly reporter: Reporter = libraryReporter();

  constructor(
    private readonly fn: AnyFunction,
    private readonly options: CheckedOptions,
  ) {
    this.name = options.name;
    const keyed = options.namespace !== undefined || options.keying.kind === 'function';
    this.identity = functionIdentity(fn, `cached(${this.name}): the function`, { version: options.version, keyed });
    this.readsThis = readsThis(fn);
  }

  // The `this` of a call: none when the method is called on the cached
  // function itself (load.check(x)) or on the global object.
  own(self: unknown, wrapped: unknown): unknown {
    return self === wrapped || self === globalThis ? undefined : self;
  }

  // A call's value (or what it threw): from the cache, or produced and
  // recorded; `force`, produced whatever the cache holds.
  async value(self: unknown, args: unknown[], force: boolean): Promise<Outcome> {
    if (!this.options.enabled) return run(this.fn, self, args);
    const { call, work, store } = await this.setUp(self, args, force);
    const outcome = await getOrRecord(call, new FunctionRecipe(work), this.deps(call, store, work));
    // a replay that broke half-way cannot happen here (a value is read whole
    // before it is used); should it, the function answers
    if (!outcome.ok) return run(this.fn, self, args);
    return outcomeOf(outcome.result);
  }

  async check(self: unknown, args: unknown[]): Promise<boolean> {
    if (!this.options.enabled) return false;
    const { call, store } = await this.setUp(self, args, false);
    // a question: nothing found bad is removed
    if ((await lookUpLocal(call, this.reporter, call.force, false)).fresh) return true;
    if (call.remote === null) return false;
    const shared = this.deps(call, store, null).openShared(call.remote);
    try {
      return (await lookUpShared(call, shared, this.reporter)) !== null;
    } finally {
      await shared.close();
    }
  }

  async entry<R>(self: unknown, args: unknown[]): Promise<CachedEntry<R>> {
    const started = Date.now();
    if (!this.options.enabled) {
      const outcome = await run(this.fn, self, args);
      if (!outcome.ok) throw outcome.error;
      return heldHandle(outcome, null, started, Date.now() - started);
    }
    const { call, work, store } = await this.setUp(self, args, false);
    const recipe = new FunctionRecipe(work, true);
    const recordedAt = call.clock();
    const result = await getOrRecord(call, recipe, this.deps(call, store, work));
    const at = { name: this.name, store, key: call.key, material: call.material, classes: this.options.classes };
    const answer: Answer = result.ok ? result.result : { kind: 'outcome', outcome: await run(this.fn, self, args) };
    if (answer.kind === 'entry') return storedHandle(at, answer.manifest);
    // produced here: a handle to what was recorded, if it was
    const written = recipe.written;
    const read = written === null ? null : store.readEntry(call.key);
    if (read?.status === 'found' && read.manifest.stdout?.hash === written?.hash) return storedHandle(at, read.manifest);
    if (!answer.outcome.ok) throw answer.outcome.error;
    return heldHandle(answer.outcome, call.key, recordedAt, Date.now() - started);
  }

  // The call as the engine takes it: its key, and how its value is produced.
  private async setUp(self: unknown, args: unknown[], force: boolean): Promise<{ call: Call; work: FunctionWork; store: LocalStore }> {
    const { name, options } = this;
    if (this.readsThis && options.keying.kind !== 'function' && (typeof self === 'object' || typeof self === 'function') && self !== null) {
      throw new TypeError(
        `${name}(): called on ${describeThis(self)} as its this, and the function reads this, which is not part of the key; ` +
          'pass options.key, a function that returns what identifies the call, e.g. key(path) { return [this.baseUrl, path]; } (see docs/library.md on methods)',
      );
    }
    const argsDigest = callDigest(name, self, args, options.keying);
    const { base, namespace } = await prepareFunctionCall(options, this.reporter);
    const material: FunctionMaterial = { kind: 'function', format: KEY_FORMAT, name, source: this.identity, args: argsDigest, namespace };
    const call: Call = { ...base, key: deriveKey(material), material, force, vet: vetWith(options.checks) };
    const work: FunctionWork = { name, fn: this.fn, self, args, store: base.store, reporter: this.reporter, cacheErrors: options.cacheErrors, classes: options.classes };
    return { call, work, store: base.store };
  }

  private deps(call: Call, store: LocalStore, work: FunctionWork | null): EngineDeps {
    const reporter = this.reporter;
    const deps: EngineDeps = {
      reporter,
      interrupts: NO_INTERRUPTS,
      openShared: (spec) => new RemoteSession(spec, process.env, call.signing, reporter, store),
      // the refresh of staleWhileRevalidate runs here, in the background
      ...(work === null
        ? {}
        : {
            startRefresh: async () => {
              void refreshInBackground({ ...call, refreshing: true }, new FunctionRecipe(work), { ...deps, startRefresh: undefined });
              return process.pid;
            },
          }),
    };
    return deps;
  }
}

function outcomeOf(answer: Answer): Outcome {
  if (answer.kind !== 'outcome') throw new Error('the engine answered a call for a value with an entry');
  return answer.outcome;
}

async function refreshInBackground(call: Call, recipe: Recipe<Answer>, deps: EngineDeps): Promise<void> {
  try {
    if ((await lockHolder(call)) !== null) return;
    await getOrRecord(call, recipe, deps);
  } catch (err) {
    deps.reporter.warnOnce('refresh', `the background refresh of ${recipe.label} failed (${describeError(err)})`);
  }
}

// Whether `fn` reads the `this` it is called with: a function, not an
// arrow (whose `this` is that of where it was written), whose source
// mentions `this`. A bound function's `this` is bound: it reads none.
function readsThis(fn: AnyFunction): boolean {
  const source = Function.prototype.toString.call(fn);
  if (/^(async\s*)?\(/.test(source) || /^(async\s+)?[\w$]+\s*=>/.test(source)) return false;
  return /\bthis\b/.test(source);
}

function describeThis(self: object): string {
  const kind = (self as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof kind === 'string' && kind !== '' && kind !== 'Object' ? `a ${kind}` : 'an object';
}

// The library does not take over the program's signals: a lock it holds
// when the program is stopped lapses after its lease.
const NO_INTERRUPTS: Interrupts = {
  forwardTo: () => ({ dispose() {} }),
  cleanUpWith: () => ({ dispose() {} }),
};
