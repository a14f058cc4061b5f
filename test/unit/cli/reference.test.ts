import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFERENCE_TABLES, referenceDocuments, renderCliReference, renderEnvReference } from '../../../src/cli/reference.js';
import { flagsOf, type OptionSpec } from '../../../src/cli/run-options.js';

const ROOT = resolve(import.meta.dirname, '../../..');

describe('the reference pages in docs/', () => {
  // The one check that keeps them current: a change to an option, a
  // subcommand, a setting or a variable that is not followed by
  // `npm run docs` fails here.
  for (const { path, text } of referenceDocuments()) {
    it(`${path} is what the tables make`, () => {
      const committed = readFileSync(resolve(ROOT, path), 'utf8');
      expect(committed, `${path} is out of date: run npm run docs`).toBe(text);
    });
  }

  it('differ once a description in a table changes, so the check above can fail', () => {
    const [first, ...rest] = REFERENCE_TABLES.runOptions;
    const edited = { ...REFERENCE_TABLES, runOptions: [{ ...first!, description: 'something else' }, ...rest] };
    expect(renderCliReference(edited)).not.toBe(renderCliReference(REFERENCE_TABLES));
    const [variable, ...others] = REFERENCE_TABLES.variables;
    expect(renderEnvReference({ ...REFERENCE_TABLES, variables: [{ ...variable!, meaning: 'something else' }, ...others] })).not.toBe(
      renderEnvReference(REFERENCE_TABLES),
    );
  });
});

describe('renderCliReference', () => {
  const page = renderCliReference(REFERENCE_TABLES);
  const rows = page.split('\n').filter((line) => line.startsWith('| `-'));

  it('gives each option of run a row: flags, value, repeatable, description', () => {
    for (const spec of REFERENCE_TABLES.runOptions as readonly OptionSpec[]) {
      const flags = flagsOf(spec).replace(/ <.*>$/, '');
      expect(rows.some((row) => row.startsWith(`| \`${flags}\` | ${spec.value ? `\`<${spec.value}>\`` : ''} | ${spec.repeatable ? 'yes' : ''}`))).toBe(true);
    }
  });

  it('gives every subcommand a section with its usage', () => {
    for (const [name, spec] of Object.entries(REFERENCE_TABLES.commands)) expect(page).toContain(`## dcache ${name}\n\n\`\`\`\ndcache ${name} ${spec.usage}\n\`\`\``);
  });

  it('escapes what markdown would take for markup in help text', () => {
    const policy = rows.find((row) => row.startsWith('| `-p, --policy`'))!;
    expect(policy).toContain('cron:\\<expr\\>');
    expect(policy).toContain("'cron:0 6 \\* \\* 1-5'");
  });
});

describe('renderEnvReference', () => {
  it('names, for a variable that overrides a setting, the setting and the flag over it', () => {
    const row = renderEnvReference(REFERENCE_TABLES)
      .split('\n')
      .find((line) => line.startsWith('| `DCACHE_POLICY` |'))!;
    expect(row).toContain('| `daily` |');
    expect(row).toContain('over the `policy` setting, under `--policy`');
  });
});
