import { hit1kbCase } from '../lib/hit-1kb-case.js';

// A hit with a 1 KB stdout against Node's own start-up: the floor for any
// Node CLI. DESIGN.md principle 5 says a hit is bounded below by it.
export const benchCase = hit1kbCase({
  name: 'hit, 1 KB output',
  baseline: '`node -e 0`',
  goal: 1.15,
  hyperfinePrefix: 'dcache-hyperfine-small-',
});
