// Whether a measured case met its goal: a ratio goal by the median of the
// per-pair ratios, a time goal by the median time of A, a ceiling (peak
// memory) by the highest A. null for a case that could not be measured.
export function goalMet({ benchCase, measured, error }) {
  if (error || !measured) return null;
  if (benchCase.goalSeconds !== undefined) return measured.medianA < benchCase.goalSeconds * 1000;
  if (benchCase.goalMaxMB !== undefined) return measured.spreadA.max <= benchCase.goalMaxMB;
  return measured.ratio.median <= benchCase.goal;
}
