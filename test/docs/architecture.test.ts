import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAY_IMPORT } from '../support/folder-rules.js';

// docs/architecture.md stays the map of the code: every folder of src/ is
// in it, every file it names exists, and what it says each folder may
// import is the rule the import test enforces.

const ROOT = resolve(import.meta.dirname, '../..');
const PAGE = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');

// The rows of the code map: `src/<folder>/` | what | may import.
function codeMap(): Map<string, string[]> {
  const section = PAGE.slice(PAGE.indexOf('## The code map'), PAGE.indexOf('\n## ', PAGE.indexOf('## The code map') + 1));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^\| `src\/([a-z/-]+)\/` \| .+ \| (.+) \|$/.exec(line);
    if (m === null) continue;
    rows.set(m[1]!, m[2]!.trim() === '—' ? [] : m[2]!.split(',').map((f) => f.trim()));
  }
  return rows;
}

// Every folder of src/ that holds a module.
function sourceFolders(dir = join(ROOT, 'src')): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  const here = entries.some((e) => e.isFile() && e.name.endsWith('.ts')) ? [relative(join(ROOT, 'src'), dir)] : [];
  return [...here, ...entries.filter((e) => e.isDirectory()).flatMap((e) => sourceFolders(join(dir, e.name)))].filter((f) => f !== '');
}

describe('docs/architecture.md', () => {
  it('names every folder of src/ in its code map, and no other', () => {
    expect([...codeMap().keys()].sort()).toEqual(sourceFolders().sort());
  });

  it('says of each folder what it may import, as the import rule has it', () => {
    const said = [...codeMap()].map(([folder, may]) => [folder, [...may].sort()]);
    const rule = [...codeMap().keys()].map((folder) => [folder, [...(MAY_IMPORT[folder.split('/')[0]!] ?? ['(no rule)'])].sort()]);
    expect(said).toEqual(rule);
  });

  it('names only files and folders that exist', () => {
    const named = [...PAGE.matchAll(/`((?:src|test|docs|bench)\/[^`\s]*)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
  });
});
