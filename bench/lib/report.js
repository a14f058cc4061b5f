import { existsSync } from 'node:fs';
import os from 'node:os';
import { markdownTable, mb, ms, pct, ratio, seconds, signedMs } from './format.js';
import { formatBytes } from './blobs.js';
import { goalMet } from './goals.js';
import { renderLargeAnatomy } from './large-report.js';

// Renders results as a plain-text table for the terminal and as
// BENCHMARKS.md. Only figures measured in this run are written.


export function describeMachine(startedAt) {
  const cpus = os.cpus();
  return {
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    load: os.loadavg().map((x) => x.toFixed(2)).join(' / '),
    node: `${process.version} (V8 ${process.versions.v8})`,
    date: startedAt.toISOString(),
  };
}

// What the bkt column says. Measuring bkt (dimo414/bkt, the closest peer)
// is not implemented yet, and the column says so rather than guess.
export function describeBkt(env) {
  if (!env.BKT) return 'not measured';
  return existsSync(env.BKT) ? 'not measured yet (BKT is set; runner does not time bkt)' : `not measured (BKT=${env.BKT} not found)`;
}

// A case's goal as the table shows it: a ratio A/B, a time of A, or a
// ceiling on A in the case's unit (peak memory) that every run must keep.
function describeGoal(benchCase) {
  if (benchCase.goalSeconds !== undefined) return `< ${benchCase.goalSeconds} s`;
  if (benchCase.goalMaxMB !== undefined) return `≤ ${benchCase.goalMaxMB} MB (every run)`;
  return `≤ ${ratio(benchCase.goal)}`;
}

export function resultRows(results, bkt) {
  return results.map((result) => {
    const { benchCase, measured, error } = result;
    const met = goalMet(result) ? 'yes' : 'no';
    const absolute = benchCase.goalSeconds !== undefined;
    const goal = describeGoal(benchCase);
    if (error) {
      return [benchCase.name, benchCase.baseline, goal, '—', '—', '—', `invalid: ${error.message.split('\n')[0]}`, bkt];
    }
    if (benchCase.goalMaxMB !== undefined) {
      const [a, r] = [measured.spreadA, measured.ratio];
      return [
        benchCase.name,
        benchCase.baseline,
        goal,
        mb(measured.medianA),
        mb(measured.medianB),
        `A: ${mb(a.min)} / **${mb(a.median)}** / ${mb(a.max)}; A/B: ${ratio(r.min)} / ${ratio(r.median)} / ${ratio(r.max)}`,
        met,
        bkt,
      ];
    }
    if (absolute) {
      const a = measured.spreadA;
      return [
        benchCase.name,
        benchCase.baseline,
        goal,
        seconds(measured.medianA),
        '—',
        `A: ${seconds(a.min)} / **${seconds(a.median)}** / ${seconds(a.max)}`,
        met,
        bkt,
      ];
    }
    const r = measured.ratio;
    return [
      benchCase.name,
      benchCase.baseline,
      goal,
      ms(measured.medianA),
      ms(measured.medianB),
      `${ratio(r.min)} / **${ratio(r.median)}** / ${ratio(r.max)}`,
      met,
      bkt,
    ];
  });
}

const RESULT_HEADER = ['case', 'baseline', 'goal', 'median A', 'median B', 'min / median / max: ratio A/B, or time of A', 'met?', 'bkt'];

export function renderTerminalTable(rows) {
  const plain = [RESULT_HEADER, ...rows.map((row) => row.map((cell) => cell.replaceAll('**', '')))];
  const widths = RESULT_HEADER.map((_, i) => Math.max(...plain.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => cell.padEnd(widths[i])).join(' | ');
  return [line(plain[0]), widths.map((w) => '-'.repeat(w)).join('-|-'), ...plain.slice(1).map(line)].join('\n');
}

export function renderMarkdown({ machine, settings, results, rows, stores = [], blobs = [], anatomy, anatomyError, large }) {
  const notes = results
    .filter((r) => r.note)
    .map((r) => `- ${r.benchCase.name}: ${r.note}.`)
    .join('\n');
  return `# Benchmarks

Written by \`npm run bench\` (bench/run.js); every figure on this page was
measured in the run described here. Rerun to refresh it; do not edit by hand.

## Machine and run

- Date: ${machine.date}
- CPU: ${machine.cpu}
- Memory: ${machine.memory}
- OS: ${machine.os}; load average at start (1 / 5 / 15 min): ${machine.load}
- Node: ${machine.node}
- Method: ${describeWarmup(settings, results)}, then A and B alternated (A, B, A, B, …) for the number of pairs below;
  each process is spawned with stdout and stderr on pipes that the runner drains, timed with
  \`process.hrtime.bigint()\`. The headline is the median of the per-pair ratios A/B, which
  cancels most of the drift of a shared, noisy machine. A case with a goal in seconds has no B:
  the headline is the median time of A. The peak-memory cases measure each run's maximum
  resident set size with GNU time (\`/usr/bin/time -f %M\`, in KiB; shown in MB of 10^6 bytes)
  instead of its time, and their goal is a ceiling that every A run must keep. The large outputs
  are files of random bytes written once per run: "256 MB" is 256 MiB, "1 GB" is 1 GiB.

## Results

${markdownTable(RESULT_HEADER, rows)}

Timed runs per case: ${results.map((r) => `${r.benchCase.name}: ${r.measured ? `${r.measured.runs} ${r.measured.paired ? 'pairs' : 'runs of A'}` : '—'}`).join('; ')}.

Checks:
${notes || '- none passed'}
${renderBlobs(blobs)}${renderStores(stores)}
${anatomy ? renderAnatomy(anatomy) : `## Where the time goes on a hit\n\nNot measured in this run: ${anatomyError}\n`}
${large ? renderLargeAnatomy(large.sections, results, large) : ''}
## How to run

\`\`\`
npm run bench                 # builds dist/, runs every case, rewrites BENCHMARKS.md
BENCH_RUNS=100 npm run bench  # timed pairs (or runs) per case, for every case (default: each case's own)
\`\`\`

Other knobs: \`BENCH_WARMUP\` (warm-up pairs for every case; default ${settings.defaultWarmup}, or a case's own), \`BENCH_PROFILE_RUNS\`
(rounds and profiles for "Where the time goes on a hit", default ${settings.defaultProfileRuns}), \`BENCH_LARGE_ROUNDS\`
(rounds of the ladders in "Where the time goes with large outputs", default ${settings.defaultLargeRounds}), \`BKT\` (path of a
bkt binary; the bkt column reports whether it is measured). \`node bench/run.js\` runs without
rebuilding. Cases live in bench/cases/ and are listed in bench/cases/index.js. The large-output
cases need about 3 GiB free in the temp directory and GNU time at /usr/bin/time.
`;
}

function describeWarmup(settings, results) {
  const pairs = (n) => `${n} warm-up ${n === 1 ? 'pair' : 'pairs'}`;
  if (settings.warmup !== undefined) return `${pairs(settings.warmup)} (BENCH_WARMUP)`;
  const own = results.filter((r) => r.measured && r.benchCase.defaultWarmup !== undefined);
  if (own.length === 0) return pairs(settings.defaultWarmup);
  const ownWarmup = (r) => `${r.measured.warmup} warm-up ${r.measured.paired ? 'pair' : 'run'}${r.measured.warmup === 1 ? '' : 's'}`;
  return `${pairs(settings.defaultWarmup)} (${own.map((r) => `${r.benchCase.name}: ${ownWarmup(r)}`).join('; ')})`;
}

// The files of random bytes the large-output cases shared (bench/lib/blobs.js).
function renderBlobs(blobs) {
  if (blobs.length === 0) return '';
  const list = [...blobs]
    .sort((a, b) => a.bytes - b.bytes)
    .map((b) => `${formatBytes(b.bytes)} (written in ${seconds(b.generationMs)})`)
    .join(' and ');
  return `
The large-output cases share files of random bytes, written once in this run to the temp
directory and removed at the end: ${list}.
`;
}

// The caches the scale cases generated (bench/lib/big-store.js).
function renderStores(stores) {
  if (stores.length === 0) return '';
  const mib = (bytes) => (bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : `${(bytes / 2 ** 10).toFixed(0)} KiB`);
  const rows = [...stores]
    .sort((a, b) => b.entries - a.entries)
    .map((s) => [
      s.entries.toLocaleString('en-US'),
      `${seconds(s.generationMs)} (${s.workers} ${s.workers === 1 ? 'process' : 'processes'})`,
      mib(s.blobBytes),
      mib(s.diskBytes),
      s.events.toLocaleString('en-US'),
    ]);
  return `
### The generated caches

The scale cases share caches generated once per run by bench/lib/store-generator.ts, bundled with
esbuild from the benchmark's snapshot of the sources. It writes every entry through the project's
own store code, as a recording would (\`LocalStore.publishBlob\` for a 256-byte stdout blob of its
own, \`LocalStore.publishManifest\` for the manifest, keys from src/key.ts), but with fsync turned
off in the generator's process. Recording times are spread over the 30 days before the run, the
policies mix \`daily\`, \`ttl:\`, \`daily@\`, \`weekly\`, \`forever\` and \`cron:\`, every third entry has a hit,
and the hit and miss events of past days are folded into the activity summary, as gc does. The
hit cases then record their own entry into these caches with \`dcache run\` (so the small one holds 10).

${markdownTable(['entries', 'generated in', 'blob bytes', 'on disk', 'activity events'], rows)}
`;
}

function renderAnatomy({ ladder, profile, attributed, command }) {
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

  return `## Where the time goes on a hit

Measured in the same run, on the same kind of entry as the 1 KB case (a fresh temp cache
directory; \`${command}\`); every hit was checked to replay the recorded output without
running the command.

### Start-up ladder

Each command adds one piece of what a hit does. Every command ran once per round, ${ladder.rounds}
rounds, so that all share the machine's conditions. "Wall" is spawn to exit as the runner sees it;
"over \`node -e 0\`" is the median of the per-round differences (a millisecond or two of noise
either way is normal here). "In-process" comes from a second set of rounds with a
\`node -r bench/probes/exit-report.cjs\` preload, which notes \`performance.now()\` when user code
starts and at the \`exit\` event: it leaves out spawning and Node's bootstrap, so it is much
steadier than the wall clock for the small items. The last column, for module entry points,
takes away what an empty entry module of the same kind (ES module or CommonJS) costs.

${markdownTable(
  [
    'command',
    'what it adds',
    'wall',
    'wall over `node -e 0`',
    'in-process: user code → exit',
    'in-process over `node -e 0`',
    'in-process over an empty entry of its kind',
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
  (and ${ladder.extraBindings.length} internal bindings), among them ${publicBuiltins.map((m) => `\`${m}\``).join(', ')}.

### CPU profile

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
