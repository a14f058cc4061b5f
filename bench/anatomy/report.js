import { markdownTable, ms, pct, signedMs } from '../lib/format.js';
import { renderMachine } from '../lib/machine.js';

// bench/anatomy.js's part of BENCHMARKS.md: the start-up ladder of a 1 KB
// hit and its CPU profile. Only figures measured in this run are written.
export function renderAnatomy({ machine, ladder, profile, attributed, command }) {
  const rung = (id) => ladder.rungs.find((r) => r.id === id);
  const floor = rung('floor');
  const hit = rung('hit');
  const version = rung('version');
  const ladderRows = ladder.rungs.map((r) => [
    r.command,
    r.adds,
    ms(r.wallMs),
    r.wallOverFloorMs === null ? '—' : signedMs(r.wallOverFloorMs),
    ms(r.userPhaseMs),
    r.userOverFloorMs === null ? '—' : signedMs(r.userOverFloorMs),
    r.userOverEmptyMs === null ? '—' : signedMs(r.userOverEmptyMs),
  ]);
  const p = profile.hit;
  const floorSelf = new Map(profile.floor.buckets.map((b) => [b.key, b.ms]));
  const bucketRows = p.buckets
    .filter((b) => b.ms >= 0.05)
    .map((b) => [b.key, ms(b.ms), pct(b.ms, p.spanMs), ms(b.inclusiveMs), ms(floorSelf.get(b.key) ?? 0)]);
  const functionRows = p.functions.slice(0, 15).map((f) => [`\`${f.key}\``, ms(f.ms), ms(f.inclusiveMs)]);
  const ours = (f) => f.bucket?.startsWith('dcache ') || f.bucket?.endsWith('(bundled in dist/)') || f.bucket?.startsWith('dist/');
  const callerRows = p.callers.filter(ours).slice(0, 15).map((f) => [`\`${f.key}\``, f.bucket, ms(f.ms)]);
  const publicBuiltins = ladder.extraBuiltins.filter((m) => !m.startsWith('internal/'));

  return `### Where the time goes on a hit

Written by \`npm run bench:anatomy\` (bench/anatomy.js), which takes apart a hit of the same
kind as the case "hit, 1 KB output": a fresh temp cache directory,
\`${command}\`.
Every hit was checked to replay the recorded output without running the command. Rerun to
refresh it; do not edit by hand.

${renderMachine(machine)}

#### Start-up ladder

Each command adds one piece of what a hit does. Every command ran once per round, ${ladder.rounds}
rounds, so that all share the machine's conditions. "Wall" is spawn to exit as the runner sees it;
"over \`node -e 0\`" is the median of the per-round differences (a millisecond or two of noise
either way is normal here). "In-process" comes from a second set of rounds with a
\`node -r bench/anatomy/exit-report.cjs\` preload, which notes \`performance.now()\` when user code
starts and at the \`exit\` event: it leaves out spawning and Node's bootstrap, so it is much
steadier than the wall clock for the small items. The last column, for the CLI, takes away what
an empty CommonJS entry module costs (bin/dcache.js is CommonJS).

${markdownTable(
  [
    'command',
    'what it adds',
    'wall',
    'wall over `node -e 0`',
    'in-process: user code → exit',
    'in-process over `node -e 0`',
    'in-process over an empty CommonJS entry',
  ],
  ladderRows,
)}

- The hit over \`node -e 0\`: **${signedMs(hit.wallOverFloorMs)}** wall (${ms(hit.wallMs)} against ${ms(floor.wallMs)}),
  **${signedMs(hit.userOverFloorMs)}** in-process.
- Of that, loading the bundled CLI up to printing \`--version\`: ${signedMs(version.wallOverFloorMs)} wall,
  ${signedMs(version.userOverFloorMs)} in-process; the hit's own work after that (argument parsing, hasher, key,
  manifest read, blob checks, replay): ${signedMs(ladder.hitOverVersionWallMs)} wall,
  ${signedMs(hit.userPhaseMs - version.userPhaseMs)} in-process (difference of medians).
- Node's bootstrap before any user code (in-process, from the process's time origin):
  ${ms(floor.userCodeAtMs)} for \`node -e 0\`, ${ms(hit.userCodeAtMs)} for the hit.
- Built-in modules the hit loads that \`node -e 0\` does not: ${ladder.extraBuiltins.length}
  (and ${ladder.extraBindings.length} internal bindings)${publicBuiltins.length > 0 ? `, among them ${publicBuiltins.map((m) => `\`${m}\``).join(', ')}` : ''}.

#### CPU profile

\`node --cpu-prof --cpu-prof-interval ${profile.intervalUs}\` of ${profile.runs} hits, written to a temp
directory; figures are means per process. The profile runs from the profiler's start (after
Node's bootstrap) to exit: ${ms(p.spanMs)} for the hit against ${ms(profile.floor.spanMs)} for \`node -e 0\`.
The profiler slows the process down, so read the shares rather than the absolute times.
${
  attributed
    ? "Frames in dist/ are attributed to their package or source file through the source maps of a\nrebuild by the project's own build script (esbuild wrapped to add maps), checked to be the same\ncode as dist/."
    : '**Frames in dist/ are not attributed**: the rebuild with source maps failed or did not give the\nsame code as dist/ (was src/ changed after the build?).'
}

Self time by bucket ("with it on the stack" counts every sample in which the bucket appears
anywhere on the stack; the Node module loader is on the stack for as long as the CLI runs its
command while its module is being evaluated):

${markdownTable(['bucket', 'self', 'share', 'with it on the stack', '`node -e 0`: self'], bucketRows)}

Top functions by self time:

${markdownTable(['function', 'self', 'with callees'], functionRows)}

dcache's code and bundled packages by time including callees:

${markdownTable(['function', 'bucket', 'with callees'], callerRows)}
`;
}
