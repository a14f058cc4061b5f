import type { KeyMaterial } from '../schema/key.js';

// The engine's messages in the words of what produces the values: a
// command is run, a cached function is called.

// What a miss does: "running the command", "calling the function".
export function producing(material: KeyMaterial): string {
  return material.kind === 'function' ? 'calling the function' : 'running the command';
}


// An option as the front end of `kind` calls it: --cache-failures for a
// command, options.cacheFailures for a cached function.
export function optionName(kind: KeyMaterial['kind'], flag: string): string {
  if (kind !== 'function') return `--${flag}`;
  return LIBRARY_NAMES[flag] ?? `options.${flag.replace(/-(\w)/g, (_all, c: string) => c.toUpperCase())}`;
}

// the flags whose counterpart in cached() has a name of its own
const LIBRARY_NAMES: Record<string, string> = {
  'cache-failures': 'options.cacheErrors',
  force: 'refresh()',
};
