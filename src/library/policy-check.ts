import type { Manifest } from '../schema/manifest.js';
import { isThenable } from './arguments.js';
import type { EntryInfo, PolicyCheck } from './types.js';

// Policies that are functions of the caller's (types.ts, PolicyCheck):
// beside named policies (['daily', (e) => e.durationMs > 1000]) every one
// of them must hold.

// The engine's check of an entry (Rules.vet) for a list of policy
// functions: the first that says no, named, is why the entry is not used.
// A function that throws fails the call, as a bug in the caller's code.
export function vetWith(checks: readonly PolicyCheck[]): ((entry: Manifest, now: number) => string | null) | undefined {
  if (checks.length === 0) return undefined;
  return (entry, now) => {
    const material = entry.material;
    const info: EntryInfo = {
      name: material.kind === 'function' ? material.name : material.kind === 'fetch' ? material.source : material.argv.join(' '),
      recordedAt: new Date(entry.recordedAt),
      durationMs: entry.durationMs,
      ageMs: now - entry.recordedAt,
      argsDigest: material.kind === 'function' ? material.args : '',
      threw: entry.exitCode !== 0,
    };
    for (const check of checks) {
      const verdict = check(info);
      if (isThenable(verdict)) throw new TypeError(`options.policy: the function ${check.name || '(anonymous)'} returned a promise; a policy function answers at once, true or false`);
      if (!verdict) return `the policy function ${check.name || '(anonymous)'} said no`;
    }
    return null;
  };
}
