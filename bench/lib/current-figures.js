import { readPart, writePart } from './benchmarks-md.js';
import { markdownTable, readMarkdownTables } from './format.js';

// The first part of BENCHMARKS.md: the machine each harness last measured
// on, and one table of every goal with its figure from each harness that
// measures it and whether that run met it. bench/run.js, bench/hyperfine.js
// and bench/fleet.js each replace their own rows when a full run ends and
// keep the others' rows, read back from the tables themselves: the page is
// the only record, and a harness that has not run since leaves its figures
// as they were.

const PART = 'current figures';
// The harnesses in the order their rows are shown, within a goal too.
const HARNESSES = ['`npm run bench`', '`npm run bench:hyperfine`', '`npm run bench:fleet`'];
const RUNS_HEADER = ['measured by', 'date', 'machine', 'Node', 'load at start (1 / 5 / 15 min)'];
const GOALS_HEADER = ['goal', 'figure', 'met?', 'measured by'];

// `harness`: one of HARNESSES; `machine`: from describeMachine (the run's
// start); `goals`: [{ goal, figure, met }], `goal` being the same text for
// every harness that measures it (bench/lib/goals.js goalLine) and `met`
// true, false or null (could not be measured).
export function writeCurrentFigures(harness, machine, goals) {
  if (!HARNESSES.includes(harness)) throw new Error(`unknown harness ${harness}`);
  const earlier = readTables(readPart(PART) ?? '');
  const runs = [
    ...earlier.runs.filter((row) => row[0] !== harness),
    [harness, machine.date, `${machine.cpu}, ${machine.memory}, ${machine.os}`, machine.node, machine.load],
  ];
  const rows = [
    ...earlier.goals.filter((row) => row[3] !== harness),
    ...goals.map(({ goal, figure, met }) => [goal, figure, met === null ? '—' : met ? 'yes' : 'no', harness]),
  ];
  return writePart(PART, render(sortRuns(runs), sortGoals(rows)));
}

function readTables(text) {
  const tables = readMarkdownTables(text);
  const rowsOf = (header) => tables.find((t) => t.header.join('|') === header.join('|'))?.rows ?? [];
  return { runs: rowsOf(RUNS_HEADER), goals: rowsOf(GOALS_HEADER) };
}

const rank = (harness) => (HARNESSES.includes(harness) ? HARNESSES.indexOf(harness) : HARNESSES.length);

function sortRuns(rows) {
  return [...rows].sort((x, y) => rank(x[0]) - rank(y[0]));
}

// Goals in the order the first harness lists them, the rows of one goal
// together, by harness.
function sortGoals(rows) {
  const byHarness = [...rows].sort((x, y) => rank(x[3]) - rank(y[3]));
  const order = [...new Set(byHarness.map((row) => row[0]))];
  return byHarness.sort((x, y) => order.indexOf(x[0]) - order.indexOf(y[0]) || rank(x[3]) - rank(y[3]));
}

function render(runs, goals) {
  return `## Current figures

Every goal, its figure in the last full run of each harness that measures it, and whether that
run met it; the goal links to the case that measures it. Written by the harnesses
(bench/lib/current-figures.js), each replacing its own rows when a full run ends: do not edit by
hand. What each figure is, and how it was checked, is under "Details" below.

${markdownTable(RUNS_HEADER, runs)}

${markdownTable(GOALS_HEADER, goals)}`;
}
