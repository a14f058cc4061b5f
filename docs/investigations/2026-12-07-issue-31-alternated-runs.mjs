// The probe of 2026-12-07-issue-31-hit-check-restore.md: runs shell lines
// in alternated rounds (the order reversed every other round; the first
// round a warm-up), and prints each one's median time and its median ratio
// to the first line, per round and overall. Each line runs under bash -c.
//   node docs/investigations/2026-12-07-issue-31-alternated-runs.mjs 41 'n24=node24 -e 0' 'hit=node24 bin/dcache.js run -- cat payload'
import { spawnSync } from 'node:child_process';
const [rounds, ...specs] = process.argv.slice(2);
const cmds = specs.map((s) => { const i = s.indexOf('='); return { name: s.slice(0, i), line: s.slice(i + 1), t: [] }; });
for (let r = 0; r < Number(rounds); r++) {
  const order = r % 2 ? [...cmds].reverse() : cmds;
  for (const c of order) {
    const t0 = process.hrtime.bigint();
    const res = spawnSync('/bin/bash', ['-c', c.line], { stdio: ['ignore', 'ignore', 'inherit'] });
    const t = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 0) throw new Error(`${c.name} exited ${res.status}`);
    if (r > 0) c.t.push(t);
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const base = cmds[0];
for (const c of cmds) {
  const ratios = c.t.map((t, i) => t / base.t[i]);
  console.log(`${c.name.padEnd(28)} median ${med(c.t).toFixed(1)} ms  ratio/${base.name} ${med(ratios).toFixed(3)} (per-round median)  overall ${(med(c.t)/med(base.t)).toFixed(3)}`);
}
