import type { KeyMaterial } from '../schema/key.js';

// The engine's messages in the words of what produces the values: a
// command is run, a cached function is called.

// What a miss does: "running the command", "calling the function".
export function producing(material: KeyMaterial): string {
  return material.kind === 'function' ? 'calling the function' : 'running the command';
}

