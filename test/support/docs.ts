import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

// The project's documents, for the tests that run their examples as
// written: an example that a test reads from its page cannot drift from it.

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Doc {
  // its path from the root of the repository: README.md, docs/guide.md
  name: string;
  text: string;
}

export function readDoc(name: string): Doc {
  return { name, text: readFileSync(resolve(ROOT, name), 'utf8') };
}

// The lines of the fenced block that holds `marker`, less the indentation
// of the fence (a block inside a list item).
export function blockHolding(doc: Doc, marker: string): string[] {
  const { text } = doc;
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`${doc.name} has no "${marker}"`);
  const start = text.lastIndexOf('```', at);
  const indent = start - text.lastIndexOf('\n', start) - 1;
  const end = text.indexOf('```', at);
  return text
    .slice(text.indexOf('\n', start) + 1, end)
    .split('\n')
    .map((line) => line.slice(indent))
    .filter((line, i, all) => i < all.length - 1 || line.trim() !== '');
}

// The lines of the first fenced block after `heading`.
export function blockAfter(doc: Doc, heading: string): string[] {
  const from = doc.text.indexOf(heading);
  if (from === -1) throw new Error(`${doc.name} has no "${heading}"`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(doc.text.slice(from));
  if (m === null) throw new Error(`${doc.name} has no fenced block after "${heading}"`);
  return m[1]!.trimEnd().split('\n');
}
