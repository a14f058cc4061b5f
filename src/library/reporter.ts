import type { Reporter } from '../ports/reporter.js';

// dcache's own words, from inside a program: warnings on stderr with the
// `dcache:` prefix, each once; the hit-or-miss lines only with DCACHE_VERBOSE=1.
export function libraryReporter(): Reporter {
  const said = new Set<string>();
  const write = (message: string) => process.stderr.write(`dcache: ${message}\n`);
  const verbose = process.env.DCACHE_VERBOSE === '1';
  return {
    verbose,
    info: (message) => {
      if (verbose) write(message);
    },
    warn: write,
    warnOnce: (topic, message) => {
      if (said.has(topic)) return;
      said.add(topic);
      write(message);
    },
    alert: (topic, message) => {
      if (said.has(topic)) return;
      said.add(topic);
      write(message);
    },
    explain: () => {},
    error: write,
  };
}
