import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { BENCHMARKS_MD } from './paths.js';

// BENCHMARKS.md holds parts written by two tools (bench/run.js and
// bench/anatomy.js) and dated text written by hand. Each tool rewrites only
// the text between its own two marks, so that running one leaves the others'
// figures and the dated text as they are; a part not there yet is added at
// the end.
export function writePart(tool, markdown) {
  const begin = `<!-- begin ${tool} -->`;
  const end = `<!-- end ${tool} -->`;
  const part = `${begin}\n${markdown.trim()}\n${end}`;
  const page = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, 'utf8') : '# Benchmarks\n';
  const from = page.indexOf(begin);
  const to = page.indexOf(end);
  const next = from >= 0 && to > from ? `${page.slice(0, from)}${part}${page.slice(to + end.length)}` : `${page.trimEnd()}\n\n${part}\n`;
  writeFileSync(BENCHMARKS_MD, next);
  return BENCHMARKS_MD;
}
