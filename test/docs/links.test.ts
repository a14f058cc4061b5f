import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// Every relative link of the README, SECURITY.md, RELIABILITY.md and
// docs/*.md leads to a file that exists, and, with a #fragment, to a
// heading of that page: pages move and headings change, and a broken link
// is found here, not by a reader.

const ROOT = resolve(import.meta.dirname, '../..');
const PAGES = ['README.md', 'SECURITY.md', 'RELIABILITY.md', ...readdirSync(join(ROOT, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`)];

// The text a reader sees as markdown, without code: fenced blocks and code
// spans hold examples, not links.
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').flatMap((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return [];
    }
    return fenced ? [] : [line.replace(/`[^`]*`/g, '')];
  });
}

// The anchors GitHub makes of a page's headings: lower case, punctuation
// dropped (but - and _), spaces as hyphens, -1, -2 after a repeat.
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*$/.exec(line);
    if (heading === null) continue;
    const text = heading[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '').replace(/\s/g, '-');
    let anchor = base;
    for (let n = 1; found.has(anchor); n++) anchor = `${base}-${n}`;
    found.add(anchor);
  }
  return found;
}

// Each link of a page: [text](target), and ![alt](target).
function links(markdown: string): string[] {
  return prose(markdown).flatMap((line) => [...line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!));
}

describe.each(PAGES)('the links of %s', (page) => {
  const text = readFileSync(join(ROOT, page), 'utf8');
  const local = links(text).filter((target) => !/^[a-z][a-z+.-]*:/i.test(target));

  it('lead to files that exist and to headings they have', () => {
    const broken = local.filter((target) => {
      const [path, fragment] = target.split('#', 2) as [string, string | undefined];
      const file = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), decodeURI(path));
      if (!existsSync(file)) return true;
      return fragment !== undefined && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(fragment);
    });
    expect(broken, `broken links in ${page} (paths from ${relative(ROOT, dirname(join(ROOT, page))) || '.'})`).toEqual([]);
  });
});

describe('anchors', () => {
  it('are made as GitHub makes them', () => {
    expect([...anchors('## `dcache run`\n## Moving the clock: `DCACHE_NOW`\n## What dcache says: `-v`, `-q` and `-qq`\n## Policies\n## Policies\n')]).toEqual([
      'dcache-run',
      'moving-the-clock-dcache_now',
      'what-dcache-says--v--q-and--qq',
      'policies',
      'policies-1',
    ]);
  });
});
