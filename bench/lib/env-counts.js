// A count from the environment (BENCH_RUNS and the like), or `fallback`
// when unset: a typo must stop the run, not quietly measure something else.
export function readCount(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a whole number of at least 1, not '${text}'`);
  }
  return value;
}
