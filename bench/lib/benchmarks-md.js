import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { BENCHMARKS_MD } from './paths.js';

// BENCHMARKS.md holds parts written by the harnesses (bench/run.js,
// bench/hyperfine.js, bench/fleet.js, bench/anatomy.js, and "current
// figures", which the first three share) between marks, and text written by
// hand around them. A harness rewrites only the text between its own two
// marks, so that running one leaves the others' figures and the hand-written
// text as they are; a part not there yet is added at the end.

const marks = (name) => ({ begin: `<!-- begin ${name} -->`, end: `<!-- end ${name} -->` });

// The text of part `name` as it is now (without its marks), or null.
export function readPart(name) {
  if (!existsSync(BENCHMARKS_MD)) return null;
  const page = readFileSync(BENCHMARKS_MD, 'utf8');
  const { begin, end } = marks(name);
  const from = page.indexOf(begin);
  const to = page.indexOf(end);
  return from >= 0 && to > from ? page.slice(from + begin.length, to) : null;
}

export function writePart(name, markdown) {
  const { begin, end } = marks(name);
  const part = `${begin}\n${markdown.trim()}\n${end}`;
  const page = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, 'utf8') : '# Benchmarks\n';
  const from = page.indexOf(begin);
  const to = page.indexOf(end);
  const next = from >= 0 && to > from ? `${page.slice(0, from)}${part}${page.slice(to + end.length)}` : `${page.trimEnd()}\n\n${part}\n`;
  writeFileSync(BENCHMARKS_MD, next);
  return BENCHMARKS_MD;
}
