import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_SETTINGS, VARIABLES } from '../../../src/cli/environment.js';
import { SETTING_NAMES } from '../../../src/setup/settings.js';

const SRC = resolve(import.meta.dirname, '../../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

// The DCACHE_* variables src/ reads: `env.DCACHE_X`, or the name in a
// string ('DCACHE_LOCK_LEASE', a message that names it). Comments are not
// reading, and the table itself does not count.
function variablesRead(): Set<string> {
  const found = new Set<string>();
  for (const file of sourceFiles(SRC)) {
    if (file.endsWith(join('cli', 'environment.ts'))) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:env\.|\[|['"`])(DCACHE_[A-Z0-9_]+)\b/g)) found.add(m[1]!);
  }
  // an error's code, not a variable
  found.delete('DCACHE_ENTRY_GONE');
  return found;
}

describe('the table of variables', () => {
  it('holds every DCACHE_* variable that src/ reads, and no other', () => {
    expect(VARIABLES.map((v) => v.name).sort()).toEqual([...variablesRead()].sort());
  });
});

describe('the table of configuration settings', () => {
  it('holds every setting a configuration file may hold, in their order', () => {
    expect(CONFIG_SETTINGS.map((s) => s.name)).toEqual([...SETTING_NAMES]);
  });
});
