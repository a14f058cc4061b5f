// The probe of 2026-12-07-what-a-hit-still-costs.md: the median time from user code
// to exit of each command given, beside an empty CommonJS module, in
// alternated rounds (a preload notes performance.now() at its start and at
// the process's exit event). Leaves out spawning and Node's bootstrap.
//
//   node docs/investigations/2026-12-07-in-process-hit.cjs NODE ROUNDS 'bin/dcache.js run -- cat /tmp/f1k' …
//
// Run each command once before (a miss, and the code cache of these flags).
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const [nodeBin, rounds, ...commands] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'dcache-in-process-'));
const preload = join(dir, 'preload.cjs');
writeFileSync(preload, "const t = performance.now(); process.on('exit', () => require('node:fs').writeFileSync(process.env.IN_PROCESS_OUT, String(performance.now() - t)));\n");
writeFileSync(join(dir, 'empty.cjs'), '');
const cases = [['an empty CommonJS module', [join(dir, 'empty.cjs')]], ...commands.map((c) => [c, c.split(' ')])];
const times = new Map(cases.map(([name]) => [name, []]));
const env = { ...process.env };
// (this machine sets it; it costs Node 20 some 80 ms at start)
delete env.NODE_EXTRA_CA_CERTS;
const out = join(dir, 'out');
for (let i = 0; i < Number(rounds); i++) {
  for (const [name, args] of cases) {
    spawnSync(nodeBin, ['-r', preload, ...args], { env: { ...env, IN_PROCESS_OUT: out }, stdio: ['ignore', 'ignore', 'inherit'] });
    times.get(name).push(Number(readFileSync(out, 'utf8')));
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
for (const [name] of cases) console.log(`${median(times.get(name)).toFixed(2).padStart(7)} ms  ${name}`);
