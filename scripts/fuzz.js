// npm run fuzz -- --cases N --seed S: the fuzz harness of the trust
// boundary (test/e2e/fuzz-remote-entries.test.ts) run longer than the suite
// runs it (120 cases, seed 26). A counterexample is printed as fast-check
// found it; make each one a named regression test.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
  },
});
for (const [name, value] of Object.entries(values)) {
  if (!/^\d+$/.test(value)) {
    console.error(`fuzz: --${name} '${value}' is not a whole number`);
    process.exit(2);
  }
}
console.log(`fuzz: ${values.cases} cases, seed ${values.seed}`);
const run = spawnSync('npx', ['vitest', 'run', 'test/e2e/fuzz-remote-entries.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_CASES: values.cases, FUZZ_SEED: values.seed },
});
process.exit(run.status ?? 1);
