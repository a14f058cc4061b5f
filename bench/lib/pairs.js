import { median, spread } from './stats.js';

const NS_PER_MS = 1_000_000;

// Times one call, awaiting it only if it returned a promise, so that a
// synchronous run is not charged a microtask tick.
async function timeCall(run) {
  const start = process.hrtime.bigint();
  let result = run();
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') result = await result;
  const elapsed = process.hrtime.bigint() - start;
  return { ms: Number(elapsed) / NS_PER_MS, result };
}

// Measures A and B alternately (A, B, A, B, ...): the machine is shared and
// noisy, and a pair measured back to back sees the same conditions, so the
// per-pair ratio A/B cancels most of the drift that separate runs would not.
// A case without runB (an absolute goal, goalSeconds) times A alone. A case
// with a `metric(state, result)` (peak memory, say) is measured by it, taken
// after the check, instead of by time.
export async function measurePairs(benchCase, state, { runs, warmup }) {
  const paired = typeof benchCase.runB === 'function';
  const once = async (side) => {
    const run = side === 'A' ? benchCase.runA : benchCase.runB;
    const check = side === 'A' ? benchCase.checkA : benchCase.checkB;
    const timed = await timeCall(() => run(state));
    check?.(state, timed.result);
    return benchCase.metric?.(state, timed.result) ?? timed.ms;
  };
  for (let i = 0; i < warmup; i++) {
    await once('A');
    if (paired) await once('B');
  }
  const a = [];
  const b = [];
  for (let i = 0; i < runs; i++) {
    a.push(await once('A'));
    if (paired) b.push(await once('B'));
  }
  if (!paired) return { runs, warmup, paired, a, b: null, medianA: median(a), medianB: null, spreadA: spread(a), ratio: null };
  const ratios = a.map((value, i) => value / b[i]);
  return { runs, warmup, paired, a, b, medianA: median(a), medianB: median(b), spreadA: spread(a), spreadB: spread(b), ratio: spread(ratios) };
}

// Measures several commands in rounds (1, 2, ..., n, 1, 2, ...), for the
// start-up ladder of bench/anatomy.js; same reasoning as measurePairs.
export async function measureRounds(rungs, { rounds, warmup }) {
  const times = rungs.map(() => []);
  for (let r = 0; r < warmup + rounds; r++) {
    for (const [i, rung] of rungs.entries()) {
      const timed = await timeCall(rung.run);
      rung.check?.(timed.result);
      if (r >= warmup) times[i].push(timed.ms);
    }
  }
  return times;
}
