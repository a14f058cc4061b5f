import { ratio } from './format.js';

// What a case's goal is, and whether a measurement met it. Shared by the
// harnesses that measure the cases (bench/run.js, bench/hyperfine.js), so
// that their rows of one goal read the same in BENCHMARKS.md.

// The goal as the tables show it: a ratio A/B, a time of A, or a ceiling on
// A in the case's unit (peak memory) that every run must keep.
export function describeGoal(benchCase) {
  if (benchCase.goalSeconds !== undefined) return `< ${benchCase.goalSeconds} s`;
  if (benchCase.goalMaxMB !== undefined) return `≤ ${benchCase.goalMaxMB} MB (every run)`;
  return `≤ ${ratio(benchCase.goal)}`;
}

// The goal in one line, the case's name linking to its file: "hit, 1 KB
// output: ≤ 1.15× `node -e 0`". A ratio names what it is a ratio to; a time
// or a ceiling stands alone.
export function goalLine(benchCase) {
  const against = benchCase.goal !== undefined ? ` ${benchCase.baseline}` : '';
  return `[${benchCase.name}](${benchCase.file}): ${describeGoal(benchCase)}${against}`;
}

// Whether bench/run.js's measurement met the goal: a ratio goal by the
// median of the per-pair ratios, a time goal by the median time of A, a
// ceiling (peak memory) by the highest A. null for a case that could not be
// measured.
export function goalMet({ benchCase, measured, error }) {
  if (error || !measured) return null;
  if (benchCase.goalSeconds !== undefined) return measured.medianA < benchCase.goalSeconds * 1000;
  if (benchCase.goalMaxMB !== undefined) return measured.spreadA.max <= benchCase.goalMaxMB;
  return measured.ratio.median <= benchCase.goal;
}
