import { cutLeftToWidth, cutToWidth, displayWidth, padToWidth } from '../core/text.js';

// The table of `dcache ls`, laid out for a width or for a pipe: pure, so
// that a property test can try any entries at any width.
//
// For a width, no line is ever wider, and the command gets the room first:
// the working directory is cut from the left, then left out; the command's
// arguments are cut; the policy is cut; the hits, then the policy, are left
// out. What tells entries of one command line apart ([-o …], [--key …],
// (exit 3)) and the script's own name stay whole. When even that leaves the
// command too little room, each entry takes two lines, the command alone on
// the second. For a pipe (no width) every value is whole, one entry a line.

export const COLUMNS = ['KEY', 'AGE', 'STATE', 'SIZE', 'HITS', 'POLICY', 'CWD', 'COMMAND'] as const;
export type Column = (typeof COLUMNS)[number];

// A command as ls shows it: the program (argv[0], quoted), its arguments,
// and what follows them, kept whole: " [-o out.csv]", " (exit 3)".
export interface CommandCell {
  program: string;
  args: string;
  tags: string;
}

export interface ListingRow {
  KEY: string;
  AGE: string;
  STATE: string;
  SIZE: string;
  HITS: string;
  POLICY: string;
  CWD: string;
  COMMAND: CommandCell;
}

// Paints a cell (or a header, row null) once its text is cut and padded.
export type Style = (column: Column, text: string, row: number | null) => string;

export interface Listing {
  header: string[];
  // the lines of each entry: one, or two on a narrow terminal
  rows: string[][];
}

const GAP = 2;
const CWD_MIN = 12;
const POLICY_MIN = 6;
// the second line of an entry, under its first
const INDENT = '  ';

export function layOutListing(rows: readonly ListingRow[], width: number | null, style: Style = (_, text) => text): Listing {
  const texts = rows.map((row) => COLUMNS.map((c) => (c === 'COMMAND' ? commandText(row.COMMAND) : row[c])));
  const natural = COLUMNS.map((c, i) => Math.max(displayWidth(c), ...texts.map((t) => displayWidth(t[i]!))));
  const shown = COLUMNS.map(() => true);
  const widths = [...natural];
  if (width === null || fitOneLine(rows, widths, shown, width)) {
    const line = (cells: readonly string[], row: number | null) =>
      joinCells(
        cells.map((text, i) => ({ column: COLUMNS[i]!, text })),
        shown,
        widths,
        style,
        row,
        (column, text, w) => (column === 'COMMAND' && row !== null ? cutCommand(rows[row]!.COMMAND, w) : cutCell(column, text, w)),
      );
    return { header: [line(COLUMNS, null)], rows: texts.map((t, n) => [line(t, n)]) };
  }
  return twoLines(rows, texts, natural, width, style);
}

// Narrows and hides columns until one line fits `width`, in the order the
// top of this file gives; false if the command would still not get the
// room that keeps it legible.
function fitOneLine(rows: readonly ListingRow[], widths: number[], shown: boolean[], width: number): boolean {
  const at = (c: Column) => COLUMNS.indexOf(c);
  const total = () => widths.reduce((n, w, i) => n + (shown[i] ? w + GAP : 0), -GAP);
  const narrow = (c: Column, min: number) => {
    const excess = total() - width;
    if (excess > 0) widths[at(c)] = Math.max(Math.min(min, widths[at(c)]!), widths[at(c)]! - excess);
  };
  const hide = (c: Column) => {
    if (total() > width) shown[at(c)] = false;
  };
  const command = at('COMMAND');
  const natural = widths[command]!;
  narrow('CWD', CWD_MIN);
  hide('CWD');
  const legible = Math.max(displayWidth('COMMAND'), ...rows.map((row) => legibleWidth(row.COMMAND)));
  narrow('COMMAND', legible);
  narrow('POLICY', POLICY_MIN);
  hide('HITS');
  hide('POLICY');
  if (total() > width) return false;
  // what hiding a column freed goes back to the command
  widths[command] = Math.min(natural, widths[command]! + width - total());
  return true;
}

// Two lines an entry: its figures (cut to fit, as one line would be), then
// the command, indented, with the whole width.
function twoLines(rows: readonly ListingRow[], texts: string[][], natural: number[], width: number, style: Style): Listing {
  const first: readonly Column[] = COLUMNS.filter((c) => c !== 'COMMAND');
  const widths = first.map((c) => natural[COLUMNS.indexOf(c)]!);
  const shown = first.map(() => true);
  const total = () => widths.reduce((n, w, i) => n + (shown[i] ? w + GAP : 0), -GAP);
  const at = (c: Column) => first.indexOf(c);
  const narrow = (c: Column, min: number) => {
    const excess = total() - width;
    if (excess > 0) widths[at(c)] = Math.max(Math.min(min, widths[at(c)]!), widths[at(c)]! - excess);
  };
  narrow('CWD', CWD_MIN);
  if (total() > width) shown[at('CWD')] = false;
  narrow('POLICY', POLICY_MIN);
  // Too narrow even for the figures: the rightmost go, then the key is cut.
  for (const c of ['HITS', 'POLICY', 'SIZE', 'STATE', 'AGE'] as const) if (total() > width) shown[at(c)] = false;
  if (total() > width) widths[at('KEY')] = Math.max(0, width);
  const line = (cells: readonly string[], row: number | null) =>
    joinCells(
      cells.map((text, i) => ({ column: first[i]!, text })),
      shown,
      widths,
      style,
      row,
      cutCell,
    );
  const room = Math.max(0, width - INDENT.length);
  const indent = width >= INDENT.length + 1 ? INDENT : '';
  const second = (text: string, row: number | null, command: CommandCell | null) =>
    indent + style('COMMAND', command === null ? cutToWidth(text, indent ? room : width) : cutCommand(command, indent ? room : width), row);
  return {
    header: [line(first, null), second('COMMAND', null, null)],
    rows: texts.map((t, n) => [line(t.slice(0, first.length), n), second('', n, rows[n]!.COMMAND)]),
  };
}

function joinCells(
  cells: ReadonlyArray<{ column: Column; text: string }>,
  shown: readonly boolean[],
  widths: readonly number[],
  style: Style,
  row: number | null,
  cut: (column: Column, text: string, width: number) => string,
): string {
  const visible = cells.map((cell, i) => ({ ...cell, i })).filter((cell) => shown[cell.i]);
  return visible
    .map(({ column, text, i }, k) => {
      const fitted = cut(column, text, widths[i]!);
      // the last cell unpadded: no line ends in spaces
      return style(column, k === visible.length - 1 ? fitted : padToWidth(fitted, widths[i]!), row);
    })
    .join(' '.repeat(GAP));
}

// The working directory is cut from the left: its last components say most.
function cutCell(column: Column, text: string, width: number): string {
  return column === 'CWD' ? cutLeftToWidth(text, width) : cutToWidth(text, width);
}

function commandText(c: CommandCell): string {
  return [c.program, c.args].filter((part) => part !== '').join(' ') + c.tags;
}

// The program as its name alone, "…/fetch.sh", when it has a directory.
function programName(program: string): string {
  const slash = program.lastIndexOf('/');
  if (slash === -1) return program;
  const name = `…/${program.slice(slash + 1)}`;
  return displayWidth(name) < displayWidth(program) ? name : program;
}

// The narrowest a command stays legible: the program's name, "…" for its
// arguments, and the tags.
function legibleWidth(c: CommandCell): number {
  return displayWidth(programName(c.program)) + (c.args === '' ? 0 : 2) + displayWidth(c.tags);
}

// A command cut to `width`: its arguments from the right, then the
// program's directory; the tags stay whole while the program's name can.
export function cutCommand(c: CommandCell, width: number): string {
  const whole = commandText(c);
  if (displayWidth(whole) <= width) return whole;
  const tags = displayWidth(c.tags);
  for (const program of [c.program, programName(c.program)]) {
    const head = displayWidth(program) + (program === '' ? 0 : 1);
    const room = width - head - tags;
    if (c.args !== '' && room >= 1) return `${program}${program === '' ? '' : ' '}${cutToWidth(c.args, room)}${c.tags}`;
    if (c.args === '' && displayWidth(program) + tags <= width) return program + c.tags;
  }
  // Not even the name and the tags: what is left of the line, tags last.
  const rest = [programName(c.program), c.args].filter((part) => part !== '').join(' ');
  if (width - tags >= 2) return cutToWidth(rest, width - tags) + c.tags;
  return cutToWidth(whole, width);
}
