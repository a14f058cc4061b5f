import { markdownTable, ms, ratio } from './format.js';
import { describeGoal, goalLine } from './goals.js';
import { renderMachine } from './machine.js';

// bench/hyperfine.js's rows of the current figures and its part of
// BENCHMARKS.md. Only figures measured in this run are written.

// Met only if both the per-round median and the overall ratio are within
// the goal.
const met = (benchCase, { ratio: r, overall }) => r.median <= benchCase.goal && overall <= benchCase.goal;

// bench/hyperfine.js's rows of the current figures
// (bench/lib/current-figures.js).
export function hyperfineGoalFigures(results, settings) {
  return results.map(({ benchCase, measured, error }) => ({
    goal: goalLine(benchCase),
    figure: error
      ? `invalid: ${error.message.split('\n')[0]}`
      : `**${ratio(measured.ratio.median)}** per round, **${ratio(measured.overall)}** overall (${runCount(benchCase, settings)})`,
    met: error ? null : met(benchCase, measured),
  }));
}

function runCount(benchCase, settings) {
  const count = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;
  return `${count(settings.rounds ?? benchCase.hyperfine.rounds, 'round')} of ${count(settings.runs ?? benchCase.hyperfine.runs, 'run')}`;
}

export function renderHyperfineMarkdown({ machine, results, settings, version }) {
  const rows = results.map(({ benchCase, measured, error }) => {
    const goal = describeGoal(benchCase);
    if (error) return [benchCase.name, benchCase.baseline, goal, '—', '—', `invalid: ${error.message.split('\n')[0]}`, '—', '—'];
    const { a, b, ratio: r, overall } = measured;
    return [
      benchCase.name,
      benchCase.baseline,
      goal,
      `${ms(a.min)} / ${ms(a.median)} / ${ms(a.max)}`,
      `${ms(b.min)} / ${ms(b.median)} / ${ms(b.max)}`,
      `${ratio(r.min)} / **${ratio(r.median)}** / ${ratio(r.max)}`,
      `**${ratio(overall)}**`,
      met(benchCase, measured) ? 'yes' : 'no',
    ];
  });
  const floors = results
    .flatMap(({ benchCase, measured }) => (measured?.floors ?? []).map((floor) => ({ benchCase, floor })))
    .map(({ benchCase, floor }) => [
      benchCase.name,
      floor.what,
      `${ms(floor.f.min)} / ${ms(floor.f.median)} / ${ms(floor.f.max)}`,
      `${ratio(floor.ratio.min)} / **${ratio(floor.ratio.median)}** / ${ratio(floor.ratio.max)}`,
      `**${ratio(floor.overall)}**`,
    ]);
  const floorPart =
    floors.length === 0
      ? ''
      : `

The same work done by C tools without dcache (F), timed in the same rounds (after A and B in
odd rounds, before them in even ones): what the recording's and the restore's guarantees cost
on their own. Where F/B is over a goal, the goal is out of reach on this machine for any program
that keeps that guarantee, not only for dcache.

${markdownTable(['case', 'the same work by C tools (F)', 'F: min / median / max', 'ratio F/B per round', 'overall'], floors)}`;
  const counts = results.map(({ benchCase }) => `${benchCase.name}: ${runCount(benchCase, settings)}`);
  return `### Outside check with hyperfine

Written by \`npm run bench:hyperfine\` (bench/hyperfine.js): the cases users see, timed by
hyperfine (${version}) instead of bench/run.js's own runner. Each case runs in rounds,
one hyperfine call per round with A and B (a warm-up run each, then the runs below), A first in
odd rounds and B first in even ones; commands go through \`bash -c\` (with \`pipefail\` for the
pipes), whose start-up hyperfine subtracts. Times are min / median / max over all runs; "per
round" is min / **median** / max of the per-round ratios of medians, "overall" the median of all A
runs over the median of all B runs, and a goal is met only if both are within it. Each dcache hit
checks the blobs it replays as any hit does (SHA-256, or a blob's check mark while its file is
unchanged since a hit found it right). Do not edit by hand.

${renderMachine(machine)}

${markdownTable(['case', 'baseline (B)', 'goal', 'A: min / median / max', 'B: min / median / max', 'ratio A/B per round', 'overall', 'met?'], rows)}${floorPart}

Runs: ${counts.join('; ')}. Checks: the entries were recorded and one hit of each large one
streamed into SHA-256 and compared with the blob's before timing (bench/lib/large-output.js);
after the recording case, the last recording's blob was compared with the output (SHA-256);
after the restore case, the command had run once only, and one more restore made after the
rounds was compared (SHA-256); after the library case, the function had run once only.`;
}
