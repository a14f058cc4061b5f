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
