import { existsSync } from 'node:fs';
import { formatBytes } from './blobs.js';
import { markdownTable, mb, ms, ratio, seconds } from './format.js';
import { describeGoal, goalLine, goalMet } from './goals.js';
import { renderMachine } from './machine.js';

// Renders the results of the cases as a plain-text table for the terminal,
// as bench/run.js's rows of the current figures and as its part of
// BENCHMARKS.md. Only figures measured in this run are written.

// What the bkt column says. Measuring bkt (dimo414/bkt, the closest peer)
// is not implemented yet, and the column says so rather than guess.
export function describeBkt(env) {
  if (!env.BKT) return 'not measured';
  return existsSync(env.BKT) ? 'not measured yet (BKT is set; runner does not time bkt)' : `not measured (BKT=${env.BKT} not found)`;
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

// bench/run.js's rows of the current figures (bench/lib/current-figures.js):
// each goal's headline figure, the one its goal is judged by.
export function goalFigures(results) {
  return results.map((result) => ({ goal: goalLine(result.benchCase), figure: headline(result), met: goalMet(result) }));
}

function headline({ benchCase, measured, error }) {
  if (error) return `invalid: ${error.message.split('\n')[0]}`;
  if (benchCase.goalMaxMB !== undefined) return `**${mb(measured.spreadA.max)}** at most (${measured.runs} runs; median ${mb(measured.medianA)})`;
  if (benchCase.goalSeconds !== undefined) {
    const a = measured.spreadA;
    return `**${seconds(a.median)}** (median of ${measured.runs} runs; ${seconds(a.min)}–${seconds(a.max)})`;
  }
  const r = measured.ratio;
  return `**${ratio(r.median)}** (median of ${measured.runs} pairs; ${ratio(r.min)}–${ratio(r.max)})`;
}

const RESULT_HEADER = ['case', 'baseline', 'goal', 'median A', 'median B', 'min / median / max: ratio A/B, or time of A', 'met?', 'bkt'];

export function renderTerminalTable(rows) {
  const plain = [RESULT_HEADER, ...rows.map((row) => row.map((cell) => cell.replaceAll('**', '')))];
  const widths = RESULT_HEADER.map((_, i) => Math.max(...plain.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => cell.padEnd(widths[i])).join(' | ');
  return [line(plain[0]), widths.map((w) => '-'.repeat(w)).join('-|-'), ...plain.slice(1).map(line)].join('\n');
}

// bench/run.js's part of BENCHMARKS.md (bench/lib/benchmarks-md.js).
export function renderMarkdown({ machine, settings, results, rows, stores = [], blobs = [] }) {
  const notes = results
    .filter((r) => r.note)
    .map((r) => `- ${r.benchCase.name}: ${r.note}.`)
    .join('\n');
  return `### Results of npm run bench

Written by \`npm run bench\` (bench/run.js): every figure in this part was measured in the run
described here. Rerun to refresh it; do not edit by hand.

${renderMachine(machine)}
- Method: ${describeWarmup(settings, results)}, then A and B alternated (A, B, A, B, …) for the number of pairs below;
  each process is spawned with stdout and stderr on pipes that the runner drains, timed with
  \`process.hrtime.bigint()\`. The headline is the median of the per-pair ratios A/B, which
  cancels most of the drift of a shared, noisy machine. A case with a goal in seconds has no B:
  the headline is the median time of A. The peak-memory cases measure each run's maximum
  resident set size with GNU time (\`/usr/bin/time -f %M\`, in KiB; shown in MB of 10^6 bytes)
  instead of its time, and their goal is a ceiling that every A run must keep. The large outputs
  are files of random bytes written once per run: "256 MB" is 256 MiB, "1 GB" is 1 GiB.

#### Results

${markdownTable(RESULT_HEADER, rows)}

Timed runs per case: ${results.map((r) => `${r.benchCase.name}: ${r.measured ? `${r.measured.runs} ${r.measured.paired ? 'pairs' : 'runs of A'}` : '—'}`).join('; ')}.

Checks:
${notes || '- none passed'}
${renderBlobs(blobs)}${renderStores(stores)}`;
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
#### The generated caches

The scale cases share caches generated once per run by bench/lib/store-generator.ts, bundled with
esbuild from the benchmark's snapshot of the sources. It writes every entry through the project's
own store code, as a recording would (\`LocalStore.publishBlob\` for a 256-byte stdout blob of its
own, \`LocalStore.publishManifest\` for the manifest, keys from src/schema/key.ts), but with fsync turned
off in the generator's process. Recording times are spread over the 30 days before the run, the
policies mix \`daily\`, \`ttl:\`, \`daily@\`, \`weekly\`, \`forever\` and \`cron:\`, every third entry has a hit,
and the hit and miss events of past days are folded into the activity summary, as gc does. The
hit cases then record their own entry into these caches with \`dcache run\` (so the small one holds 10).

${markdownTable(['entries', 'generated in', 'blob bytes', 'on disk', 'activity events'], rows)}
`;
}
