import { COMMANDS, HELP_OPTION, runOptionsOf, VERSION_OPTION, type CommandOption, type CommandSpec } from './command-options.js';
import { CONFIG_SETTINGS, OTHER_VARIABLES, VARIABLES, type ConfigSetting, type Variable } from './environment.js';
import { flagsOf, RUN_OPTIONS, type OptionSpec } from './run-options.js';

// The reference pages, docs/cli.md and docs/env.md, written from the tables
// that the command line itself reads (RUN_OPTIONS, COMMANDS) and from the
// table of settings and variables. Pure: tables in, markdown out. `npm run
// docs` writes them; a test fails when the committed pages differ.

export interface ReferenceTables {
  runOptions: readonly OptionSpec[];
  commands: Readonly<Record<string, CommandSpec>>;
  settings: readonly ConfigSetting[];
  variables: readonly Variable[];
  otherVariables: ReadonlyArray<{ name: string; meaning: string }>;
}

export const REFERENCE_TABLES: ReferenceTables = {
  runOptions: RUN_OPTIONS,
  commands: COMMANDS,
  settings: CONFIG_SETTINGS,
  variables: VARIABLES,
  otherVariables: OTHER_VARIABLES,
};

// The pages, by their path in the repository.
export function referenceDocuments(tables: ReferenceTables = REFERENCE_TABLES): Array<{ path: string; text: string }> {
  return [
    { path: 'docs/cli.md', text: renderCliReference(tables) },
    { path: 'docs/env.md', text: renderEnvReference(tables) },
  ];
}

const GENERATED = (from: string) =>
  `<!-- Written by \`npm run docs\` from ${from}; edit those, not this page. test/unit/cli/reference.test.ts fails when it is out of date. -->`;

export function renderCliReference(tables: ReferenceTables): string {
  const lines = [
    '# Command-line reference',
    '',
    GENERATED('src/cli/run-options.ts and src/cli/command-options.ts'),
    '',
    'Every command and option, as `dcache <command> --help` gives them. What they do is told in',
    '[the guide to `dcache run`](guide.md); environment variables and configuration settings are',
    'in [env.md](env.md).',
    '',
    '| command | what it does |',
    '| --- | --- |',
    ...Object.entries(tables.commands).map(([name, spec]) => row([`[\`dcache ${name}\`](#dcache-${name})`, text(spec.description)])),
    '',
    `Every command takes \`${HELP_OPTION.flags}\` (${HELP_OPTION.description}); \`dcache ${VERSION_OPTION.flags}\` alone: ${VERSION_OPTION.description}.`,
  ];
  for (const [name, spec] of Object.entries(tables.commands)) {
    lines.push('', `## dcache ${name}`, '', '```', `dcache ${name} ${spec.usage}`, '```', '', `${capitalise(spec.description)}.`);
    const borrowed = runOptionsOf(spec, tables.runOptions);
    // RUN_OPTIONS are run's by definition: their table is run's, and the
    // commands that share them say which they take
    if (name === 'run') {
      lines.push('', ...runOptionTable(borrowed, tables));
      continue;
    }
    const taken = spec.runOptions;
    if (taken !== undefined && 'except' in taken) {
      const except = new Set<string>(taken.except);
      const left = tables.runOptions.filter((o) => except.has(o.key)).map((o) => `\`${flagsOf(o)}\``);
      lines.push('', `It takes ${left.length === 0 ? 'every option' : 'the options'} of [\`dcache run\`](#dcache-run)${left.length === 0 ? '' : ` but ${joinWords(left)}`}.`);
    }
    const rows = [...spec.options.map(ownOptionRow), ...(taken !== undefined && 'only' in taken ? borrowed.map((o) => row(runOptionCells(o))) : [])];
    if (rows.length > 0) lines.push('', '| option | value | repeatable | description |', '| --- | --- | --- | --- |', ...rows);
  }
  return `${lines.join('\n')}\n`;
}

// run's own table: where each option falls back to when it is not given.
function runOptionTable(options: readonly OptionSpec[], tables: ReferenceTables): string[] {
  const fallback = (spec: OptionSpec): string => {
    if (spec.setting === undefined) return '';
    const variable = tables.variables.find((v) => v.setting === spec.setting);
    return [`[\`${spec.setting}\`](env.md#configuration-settings)`, variable ? `\`${variable.name}\`` : null].filter((x) => x !== null).join(', ');
  };
  return [
    '| option | value | repeatable | description | default from |',
    '| --- | --- | --- | --- | --- |',
    ...options.map((spec) => row([...runOptionCells(spec), fallback(spec)])),
  ];
}

function runOptionCells(spec: OptionSpec): string[] {
  const flags = spec.short ? `-${spec.short}, --${spec.long}` : `--${spec.long}`;
  const repeatable = spec.repeatable ? 'yes' : spec.count ? 'counted (`-qq`)' : '';
  return [`\`${flags}\``, spec.value ? `\`<${spec.value}>\`` : '', repeatable, text(spec.description)];
}

// `--older-than <duration>` as flags, value, repeatable, description.
function ownOptionRow(option: CommandOption): string {
  const m = /^(.*?)(?: <([\w-]+)>)?$/.exec(option.flags)!;
  return row([`\`${m[1]}\``, m[2] ? `\`<${m[2]}>\`` : '', '', text(option.description)]);
}

export function renderEnvReference(tables: ReferenceTables): string {
  const flagsFor = (setting: string) => tables.runOptions.filter((o) => o.setting === setting).map((o) => `\`--${o.long}\``);
  const settingOf = (name: string) => tables.settings.find((s) => s.name === name)!;
  const lines = [
    '# Environment variables and settings',
    '',
    GENERATED('src/cli/environment.ts'),
    '',
    "What dcache reads besides its command line. How the settings are chosen and checked is told in the guide's",
    '[Configuration](guide.md#configuration); the options are in [cli.md](cli.md).',
    '',
    '## Configuration settings',
    '',
    "Defaults that you would otherwise repeat on every call go in a JSON file: a project's `.dcache.json`",
    '(the nearest one at or above the working directory) or your own `$XDG_CONFIG_HOME/dcache/config.json`',
    "(`~/.config/dcache/config.json`). For each setting the first of these wins: a flag, an environment",
    "variable, the project's file, your file, the default.",
    '',
    '| setting | default | what | also set by |',
    '| --- | --- | --- | --- |',
    ...tables.settings.map((s) => {
      const variable = tables.variables.find((v) => v.setting === s.name);
      const by = [...flagsFor(s.name), ...(variable ? [`\`${variable.name}\``] : [])];
      return row([`\`${s.name}\``, s.default, s.meaning, by.length > 0 ? by.join(', ') : 'only a file']);
    }),
    '',
    '## Variables',
    '',
    'A variable that only tunes the cache and holds a bad value is warned about once, and its default is used.',
    '',
    '| variable | default | meaning | read by |',
    '| --- | --- | --- | --- |',
    ...tables.variables.map((v) => {
      const setting = v.setting === undefined ? null : settingOf(v.setting);
      const flags = v.setting === undefined ? [] : flagsFor(v.setting);
      const over = setting === null ? '' : `; over the \`${setting.name}\` setting${flags.length > 0 ? `, under ${flags.join(', ')}` : ''}`;
      return row([`\`${v.name}\``, setting?.default ?? v.default ?? '', `${v.meaning}${over}`, v.readBy]);
    }),
    '',
    '## Other variables dcache reads',
    '',
    '| variable | meaning |',
    '| --- | --- |',
    ...tables.otherVariables.map((v) => row([v.name.split(', ').map((n) => `\`${n}\``).join(', '), v.meaning])),
  ];
  return `${lines.join('\n')}\n`;
}

// Help text as a table cell: what markdown would read as markup is escaped
// (`<expr>` would vanish as an HTML tag, `AWS_*` start emphasis, `|` end the cell).
function text(s: string): string {
  return s.replace(/[\\|<>*]/g, (c) => `\\${c}`);
}

// Cells are markdown already: help text through text(), the environment
// table as written.
function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function joinWords(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}
