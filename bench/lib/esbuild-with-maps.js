import { appendFileSync } from 'node:fs';
import * as esbuild from 'esbuild';

// esbuild as scripts/build.js sees it when bench/lib/bundles.js runs it:
// every build also writes an external source map (which leaves the emitted
// code as it is), and its options are logged, as JSON lines, to
// $BENCH_BUILD_LOG, so that the probes can be bundled the same way.
export * from 'esbuild';

export function build(options) {
  const log = process.env.BENCH_BUILD_LOG;
  if (log) appendFileSync(log, `${JSON.stringify(options, (_key, value) => (typeof value === 'function' ? undefined : value))}\n`);
  return esbuild.build({ ...options, sourcemap: 'external' });
}

export default { ...esbuild, build };
