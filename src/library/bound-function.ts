import { createRequire } from 'node:module';

// What a bound function is made of: the function it calls, the `this` and
// the leading arguments it calls it with. JavaScript keeps these in
// internal slots that no language feature reads; V8's inspector protocol
// reads them (as a debugger shows them), from inside the process and
// synchronously. Null when they cannot be read: a Node built without the
// inspector, or one whose in-process session answers later than at once.

export interface BoundParts {
  target: (...args: unknown[]) => unknown;
  self: unknown;
  args: unknown[];
}

interface RemoteObject {
  type: string;
  objectId?: string;
  value?: unknown;
  unserializableValue?: string;
}

interface InternalProperty {
  name: string;
  value?: RemoteObject;
}

interface Session {
  connect(): void;
  disconnect(): void;
  post(method: string, params: object, callback: (err: Error | null, result: unknown) => void): void;
}

// node:inspector is loaded only when a bound function is wrapped (its load
// and connection cost about 3 ms); a require of a built-in module needs no
// particular parent.
const requireBuiltin = createRequire('/');

// The slot of globalThis through which the protocol finds the function,
// there only while it is read.
const SLOT = Symbol.for('dcache.boundFunctionProbe');

export function readBound(fn: (...args: never[]) => unknown): BoundParts | null {
  let session: Session;
  try {
    const { Session } = requireBuiltin('node:inspector') as { Session: new () => Session };
    session = new Session();
    session.connect();
  } catch {
    return null;
  }
  const holder: { fn: unknown; parts: unknown[] | null } = { fn, parts: null };
  const global = globalThis as unknown as Record<symbol, unknown>;
  global[SLOT] = holder;
  try {
    const post = (method: string, params: object): unknown => {
      let answer: { err: Error | null; result: unknown } | null = null;
      session.post(method, params, (err, result) => {
        answer = { err, result };
      });
      if (answer === null) throw new NotAtOnce();
      const { err, result } = answer as { err: Error | null; result: unknown };
      if (err !== null) throw err;
      return result;
    };
    const evaluated = post('Runtime.evaluate', { expression: `globalThis[Symbol.for(${JSON.stringify(SLOT.description)})]` }) as { result: RemoteObject };
    const holderId = evaluated.result.objectId!;
    const fnId = (post('Runtime.callFunctionOn', { objectId: holderId, functionDeclaration: 'function () { return this.fn; }' }) as { result: RemoteObject }).result.objectId!;
    const properties = post('Runtime.getProperties', { objectId: fnId, ownProperties: true }) as { internalProperties?: InternalProperty[] };
    const slot = (name: string) => properties.internalProperties?.find((p) => p.name === name)?.value;
    const target = slot('[[TargetFunction]]');
    const self = slot('[[BoundThis]]');
    const args = slot('[[BoundArgs]]');
    if (target === undefined || self === undefined || args === undefined) return null;
    // hands the three values back to this side: the protocol sees them as
    // remote objects, and a function run on the holder can store them
    post('Runtime.callFunctionOn', {
      objectId: holderId,
      functionDeclaration: 'function (target, self, args) { this.parts = [target, self, args]; }',
      arguments: [asArgument(target), asArgument(self), asArgument(args)],
    });
    if (holder.parts === null) return null;
    const [boundTarget, boundSelf, boundArgs] = holder.parts as [BoundParts['target'], unknown, unknown[]];
    return { target: boundTarget, self: boundSelf, args: [...boundArgs] };
  } catch (err) {
    if (err instanceof NotAtOnce) return null;
    throw err;
  } finally {
    delete global[SLOT];
    session.disconnect();
  }
}

class NotAtOnce extends Error {}

// A remote object as an argument of a function called through the
// protocol: by its id, or by value for a primitive.
function asArgument(remote: RemoteObject): object {
  if (remote.objectId !== undefined) return { objectId: remote.objectId };
  if (remote.unserializableValue !== undefined) return { unserializableValue: remote.unserializableValue };
  if (remote.type === 'undefined') return {};
  return { value: remote.value };
}
