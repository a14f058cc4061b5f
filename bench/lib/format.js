// Number and table formatting shared by the report's sections.

export const ms = (value) => `${value.toFixed(1)} ms`;
export const seconds = (valueMs) => `${(valueMs / 1000).toFixed(2)} s`;
export const signedMs = (value) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(1)} ms`;
export const ratio = (value) => `${value.toFixed(2)}×`;
export const mb = (value) => `${value.toFixed(1)} MB`;
export const pct = (part, whole) => `${((100 * part) / whole).toFixed(0)} %`;

export function markdownTable(header, rows) {
  const escape = (cell) => String(cell).replaceAll('|', '\\|');
  return [
    `| ${header.map(escape).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

// The tables of a markdown text as markdownTable writes them: each table's
// header and rows, cells trimmed and unescaped.
export function readMarkdownTables(text) {
  const tables = [];
  let table = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      table = null;
      continue;
    }
    const cells = line
      .slice(1, line.endsWith('|') ? -1 : undefined)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim().replaceAll('\\|', '|'));
    if (table === null) tables.push((table = { header: cells, rows: [] }));
    else if (!cells.every((cell) => /^:?-+:?$/.test(cell))) table.rows.push(cells);
  }
  return tables;
}

