// Order statistics over plain arrays of numbers; inputs are never mutated.

export function median(values) {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function min(values) {
  return values.reduce((m, v) => (v < m ? v : m), Infinity);
}

function max(values) {
  return values.reduce((m, v) => (v > m ? v : m), -Infinity);
}

// Summarises a list as min / median / max.
export function spread(values) {
  return { min: min(values), median: median(values), max: max(values) };
}
