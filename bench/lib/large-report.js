import { markdownTable, ms, ratio, signedMs } from './format.js';
import { goalMet } from './goals.js';
import { COMMAND_SECONDS, CONCURRENT } from './miss-rounds.js';

// Renders bench/lib/large-anatomy.js's sections: for each large-output case
// with a ratio goal, the measured figure, a ladder of what the time is made
// of, the CPU profile's main items and, when the goal was not met, what was
// tried. Every figure in a sentence is from this run; the sentences that
// compare (above or within the goal) are decided by those figures.

export function renderLargeAnatomy(sections, results, { rounds, error }) {
  if (error) return `## Where the time goes with large outputs\n\nNot measured in this run: ${error}\n`;
  if (sections.length === 0) return '';
  const parts = sections.map((section) => renderSection(section, results.find((r) => r.benchCase.name === section.caseName)));
  return `## Where the time goes with large outputs

For every large-output case with a ratio goal, met or not in this run (a goal missed is
marked so, with what was tried). Each command of a ladder ran once per round, ${rounds} rounds
(after one warm-up round), all commands of a round back to back, so that they share the
machine's conditions. "Wall" is the median and "min–max" the fastest and slowest round;
"difference" and "ratio" are the medians of the per-round differences and ratios against the
command named in "compared with"; "÷ baseline" is the median of the per-round ratios against
the ladder's first command, the case's B. Probes (bench/probes/) do one part of dcache's work
in a plain Node program. The CPU profiles are \`node --cpu-prof\` of dcache's own run (the
main thread only; libuv's thread pool, which does the asynchronous file reads, writes and
fsyncs, is not in them), means per process.

${parts.join('\n')}`;
}

function renderSection(section, result) {
  const measured = result?.measured;
  const goal = result?.benchCase.goal;
  const headline = measured
    ? `**${ratio(measured.ratio.median)}** (median of ${measured.runs} per-pair ratios; min ${ratio(measured.ratio.min)}, max ${ratio(measured.ratio.max)}; A ${ms(measured.medianA)}, B ${ms(measured.medianB)}) against a goal of ≤ ${ratio(goal)}`
    : 'not measured';
  const rung = (id) => section.ladder.find((r) => r.id === id);
  const ladderRows = section.ladder.map((r) => [
    r.command,
    r.adds,
    ms(r.wallMs),
    `${r.minMs.toFixed(0)}–${r.maxMs.toFixed(0)} ms`,
    r.overLabel ?? '—',
    r.overMs === null ? '—' : signedMs(r.overMs),
    r.overRatio === null ? '—' : ratio(r.overRatio),
    ratio(r.ratio),
  ]);
  const reading = READINGS[section.id]?.(rung, { measured, goal, section }) ?? { where: [], tried: [] };
  const met = result ? goalMet(result) : null;
  const tried = met === false && reading.tried.length > 0 ? `\nTried:\n\n${reading.tried.map((line) => `- ${line}`).join('\n')}\n` : '';
  return `### ${section.caseName}: ${met === null ? 'not measured' : met ? 'goal met' : 'goal not met'}

Measured in the results table: ${headline}.

${markdownTable(['command', 'what it is', 'wall', 'min–max', 'compared with', 'difference', 'ratio', '÷ baseline'], ladderRows)}

Where the time goes:

${[...reading.where, ...describeSpread(section.ladder)].map((line) => `- ${line}`).join('\n')}
${section.profile ? `- ${describeProfile(section.profile)}\n` : ''}${tried}`;
}

// Commands whose slowest round took more than twice their fastest: their
// medians stand for one of two modes, so the spread is spelled out, and
// every command is compared by its fastest round too.
const SPREAD = 2;
function describeSpread(ladder) {
  const wide = ladder.filter((r) => r.maxMs > SPREAD * r.minMs);
  if (wide.length === 0) return [];
  const list = wide.map((r) => `${r.command} ${r.minMs.toFixed(0)}–${r.maxMs.toFixed(0)} ms`).join('; ');
  const base = ladder[0];
  const fastest = ladder.map((r, i) => `${r.command} ${ms(r.minMs)}${i === 0 ? '' : ` (${ratio(r.minMs / base.minMs)})`}`).join(', ');
  return [
    `Rounds of one command varied by more than ${SPREAD}× here (fastest–slowest): ${list}; the medians above may mix a fast and a slow mode. By their fastest rounds: ${fastest}.`,
  ];
}

// The profile's largest buckets and functions by self time, in one line each.
function describeProfile({ runs, summary }) {
  const buckets = summary.buckets
    .slice(0, 5)
    .map((b) => `${b.key} ${ms(b.ms)}`)
    .join('; ');
  const functions = summary.functions
    .slice(0, 5)
    .map((f) => `\`${f.key}\` ${ms(f.ms)}`)
    .join(', ');
  return `CPU profile of dcache (${runs} runs, ${ms(summary.spanMs)} from the profiler's start to exit): by self time, ${buckets}. Top functions: ${functions}.`;
}

const over = (r) => `${signedMs(r.overMs)}`;
const times = (r) => ratio(r.ratio);
// How a figure stands against the goal, as a phrase.
const againstGoal = (value, goal) => (value > goal ? `above the goal of ${ratio(goal)}` : `within the goal of ${ratio(goal)}`);

function readHit(rung, { goal }, into) {
  const base = rung('baseline');
  const node = rung('node');
  const copy = rung('copy');
  const hash = rung('hash');
  const dcache = rung('dcache');
  const where = [
    `The goal allows dcache ${ms((goal - 1) * base.wallMs)} more than the baseline's ${ms(base.wallMs)}. Node's start-up and exit alone (\`node -e 0\`, no output) take ${ms(node.wallMs)}, ${times(node)} the baseline.`,
    `A plain Node program that reads the file in 1 MiB chunks and writes each ${into === 'pipe' ? 'into the pipe' : 'to /dev/null'} before reading the next (copy-out.cjs: no CLI, no manifest, no verification) takes ${ms(copy.wallMs)}, ${times(copy)} the baseline (${over(copy)}).`,
    `Hashing every chunk with xxhash-wasm, as a replay verifies the blob, adds ${over(hash)} (copy-out.cjs --xxhash, ${times(hash)} the baseline).`,
    `dcache's hit, which also loads the bundled CLI, reads the manifest, appends to the activity log, and reads the next chunk on the thread pool while it hashes and writes this one, takes ${ms(dcache.wallMs)}: ${over(dcache)} against that probe, ${times(dcache)} the baseline in these rounds.`,
  ];
  const together = rung('baseline-together');
  const apart = rung('baseline-apart');
  if (together && apart) {
    where.push(
      `The pipe's own speed depends on where the scheduler runs its writer and reader: the baseline takes ${ms(together.wallMs)} with both pinned to CPU 0 and ${ms(apart.wallMs)} with writer and reader on different CPUs (${ms(base.wallMs)} unpinned). Pinned the same ways, the hit is ${ratio(rung('dcache-together').overRatio)} and ${ratio(rung('dcache-apart').overRatio)} its baseline.`,
    );
  }
  const tried = [
    `A plain Node copy with no CLI, manifest or verification (copy-out.cjs) instead of dcache: ${times(copy)} the baseline, ${againstGoal(copy.ratio, goal)}; with the hashing that verification needs, ${times(hash)}.`,
  ];
  if (together && apart) {
    const pinned = [rung('dcache-together').overRatio, rung('dcache-apart').overRatio];
    tried.push(
      `Pinning writer and reader (above), which dcache could not do for its users anyway: the hit is ${ratio(pinned[0])} its baseline on one CPU (${againstGoal(pinned[0], goal)}) and ${ratio(pinned[1])} on two (${againstGoal(pinned[1], goal)}).`,
    );
  }
  return { where, tried };
}

const READINGS = {
  'hit-pipe': (rung, context) => readHit(rung, context, 'pipe'),
  'hit-null': (rung, context) => readHit(rung, context, 'null'),

  miss(rung, { goal }) {
    const base = rung('baseline');
    const stage = rung('stage');
    const pass = rung('pass');
    const hash = rung('hash');
    const file = rung('file');
    const fsync = rung('fsync');
    const dcache = rung('dcache');
    const fifo = rung('fifo');
    const where = [
      `The goal allows dcache ${ms((goal - 1) * base.wallMs)} more than the baseline's ${ms(base.wallMs)}. One more process passing the bytes on (\`cat | cat | cat\`) changes the baseline by ${over(stage)} (pipe figures here move with the CPUs the scheduler picks; see the pinned rows).`,
      `Node passing the command's output through with streams, and nothing else (tee-child.cjs pass), takes ${ms(pass.wallMs)}, ${times(pass)} the baseline.`,
      `On top of that, hashing with xxhash-wasm adds ${over(hash)}, writing the temp file through a 1 MiB WriteStream ${over(file)}, and the fsync before it closes ${over(fsync)}: the data path of a recording takes ${ms(fsync.wallMs)}, ${times(fsync)} the baseline.`,
      `The rest of dcache (loading the CLI and execa, the key's lock, publishing the blob and the manifest, the activity log) adds ${over(dcache)}; the miss takes ${ms(dcache.wallMs)}, ${times(dcache)} the baseline in these rounds.`,
    ];
    const together = rung('baseline-together');
    if (together) {
      where.push(
        `With every process pinned to CPU 0 the baseline takes ${ms(together.wallMs)} (${ms(base.wallMs)} unpinned) and the miss ${ms(rung('dcache-together').wallMs)}, ${ratio(rung('dcache-together').overRatio)} its baseline.`,
      );
    }
    const tried = [
      `Reading the command's output from a FIFO with blocking 1 MiB reads instead of through Node's streams and socket (fifo-pass.cjs, pass-through only): ${ms(fifo.wallMs)} against ${ms(pass.wallMs)} (${ratio(fifo.overRatio)}), ${times(fifo)} the baseline.`,
      `Leaving out the fsync is not an option (a crash must never leave a torn entry, DESIGN.md); its cost here is the ${over(fsync)} above.`,
    ];
    return { where, tried };
  },

  concurrent(rung, { goal, section }) {
    const base = rung('baseline');
    const starts = rung('starts');
    const hits = rung('hits');
    const dcache = rung('dcache');
    const { commandStartMs, baselineCommandStartMs, firstExitMs, secondExitMs, lastExitMs } = section.facts;
    return {
      where: [
        `One miss takes ${ms(base.wallMs)}, of which the command sleeps ${ms(COMMAND_SECONDS * 1000)}; the goal allows ${ms(goal * base.wallMs)} for ${CONCURRENT}.`,
        `Starting ${CONCURRENT} Node processes at once (${CONCURRENT} × \`node -e 0\`) takes ${ms(starts.wallMs)} by itself on this machine's CPUs, ${times(starts)} one miss.`,
        `${CONCURRENT} hits at once of the same command, already recorded (${CONCURRENT} starts and replays, nobody waits), take ${ms(hits.wallMs)}, ${over(hits)} over the bare starts.`,
        `${CONCURRENT} misses at once take ${ms(dcache.wallMs)}, ${over(dcache)} over one miss (${times(dcache)} in these rounds): the command once, plus ${CONCURRENT} start-ups, waits and replays competing for the same CPUs.`,
        `Of the ${over(dcache)}, the command started ${signedMs(commandStartMs - baselineCommandStartMs)} later than in one miss alone, and the last process exited ${ms(lastExitMs - firstExitMs)} after the first (medians; details below).`,
        `In those rounds (medians, from the first spawn), the command started after ${ms(commandStartMs)} (its counter file's mtime; in one miss alone, after ${ms(baselineCommandStartMs)}; ${CONCURRENT} bare Node start-ups at once take ${ms(starts.wallMs)}); the first process exited after ${ms(firstExitMs)}, the second after ${ms(secondExitMs)}, the last after ${ms(lastExitMs)}: ${ms(lastExitMs - firstExitMs)} from the first exit to the last, in which the waiters notice the entry and replay it.`,
      ],
      tried: [
        `${CONCURRENT} hits at once (above) show what the other ${CONCURRENT - 1} processes cost even when nobody waits: ${ms(hits.wallMs)}, ${times(hits)} one miss; waiting for the one that runs the command comes on top.`,
      ],
    };
  },

  restore(rung, { goal }) {
    const base = rung('baseline');
    const kernel = rung('kernel');
    const copy = rung('copy');
    const hash = rung('hash');
    const dcache = rung('dcache');
    return {
      where: [
        `The goal allows dcache ${ms((goal - 1) * base.wallMs)} more than cp's ${ms(base.wallMs)}. Node's start-up plus a copy through user space with 1 MiB reads and writes, as a restore does (copy-file.cjs), takes ${ms(copy.wallMs)}, ${times(copy)} cp; hashing every chunk with xxhash-wasm, as a restore verifies the blob, changes that by ${over(hash)} (${times(hash)} cp).`,
        `dcache's restore takes ${ms(dcache.wallMs)}, ${over(dcache)} over that probe, ${times(dcache)} cp in these rounds.`,
        `Node's start-up plus an in-kernel copy like cp's (copy-file.cjs --kernel, \`fs.copyFileSync\`) takes ${ms(kernel.wallMs)}, ${times(kernel)} cp.`,
      ],
      tried: [
        `An in-kernel copy from Node (copy-file.cjs --kernel) instead of reading and writing: ${times(kernel)} cp, ${againstGoal(kernel.ratio, goal)}; it leaves the bytes unverified, and verifying them means reading the blob once more.`,
      ],
    };
  },
};
