// npm run test:node-lines [-- 22 24]: the end-to-end core of the suite on
// the Node lines users run besides the one npm test runs on. Each line's
// binary comes from the npm registry (the `node` package), installed once
// into a scratch folder; vitest then runs under it, so that every dcache
// the tests start is that Node's.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeOfLine } from '../bench/lib/node-line.js';

// The tested lines besides the one of npm test (the README says which).
const LINES = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22', '24'];
// The end-to-end core: run, outputs and policies, signals and pipes, the
// library, the links of restored trees, and a remote between two machines.
const CORE = [
  'test/e2e/run.test.ts',
  'test/e2e/everyday.test.ts',
  'test/e2e/outputs.test.ts',
  'test/e2e/policies.test.ts',
  'test/e2e/reliability-signals-pipes.test.ts',
  'test/e2e/library.test.ts',
  'test/e2e/trust-links.test.ts',
  'test/e2e/remote.test.ts',
];

for (const line of LINES) {
  if (!/^\d+$/.test(line)) {
    console.error(`node-lines: '${line}' is not a Node major version (22, 24)`);
    process.exit(2);
  }
}
let failed = false;
for (const line of LINES) {
  let node;
  try {
    node = nodeOfLine(line);
  } catch (err) {
    console.error(`node-lines: ${err.message}`);
    process.exit(1);
  }
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`\nnode-lines: the end-to-end core on Node ${version}`);
  const run = spawnSync(node, [join('node_modules', 'vitest', 'vitest.mjs'), 'run', ...CORE], { stdio: 'inherit' });
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
