import { hit1kbCase } from '../lib/hit-1kb-case.js';
import { nodeOfLine } from '../lib/node-line.js';

// The 1 KB hit on Node 24 (npm's node@24, in a scratch folder) against that
// Node's own start-up: Node 24 starts faster than Node 20, so dcache's own
// work on a hit is a larger share. Every timed run of either side uses
// Node 24.
export const benchCase = hit1kbCase({
  name: 'hit, 1 KB output, Node 24',
  baseline: '`node -e 0` (Node 24)',
  goal: 1.25,
  node: () => nodeOfLine(24),
  nodeName: 'Node 24',
  prefix: 'dcache-bench-node24-',
  hyperfinePrefix: 'dcache-hyperfine-node24-',
});
