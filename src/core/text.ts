// Text that came from a command line or an entry, as it may be printed:
// control characters (newlines, ESC, the C1 codes) are shown as escapes, so
// that a command cannot move the cursor, colour the terminal or forge a line
// of dcache's own in `ls`, `show` or a message.

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e', '\\': '\\\\' };
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

export function hasControls(text: string): boolean {
  return CONTROL.test(text);
}

// Control characters as \n, \t, \e or \xHH; the rest untouched.
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// One argument as a POSIX shell would need it written: bare when it is
// plain, in single quotes otherwise, and in $'…' (bash, zsh, ksh) when it
// holds control characters, which cannot be shown inside single quotes.
export function quoteArgument(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  if (hasControls(arg)) {
    const body = arg.replace(/[\\']|[\u0000-\u001f\u007f-\u009f]/g, (c) =>
      c === "'" ? "\\'" : (NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`),
    );
    return `$'${body}'`;
  }
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

// How many columns of a terminal `text` takes: marks that combine with the
// character before them and zero-width joiners take none, East Asian wide
// characters and emoji two, the rest one. (Control characters are escaped
// before anything is measured.)
export function displayWidth(text: string): number {
  let width = 0;
  for (const c of text) width += charWidth(c);
  return width;
}

// `text` cut to at most `width` columns, with … in place of what was cut.
export function cutToWidth(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  let kept = '';
  let used = 0;
  for (const c of text) {
    const w = charWidth(c);
    if (used + w > width - 1) break;
    kept += c;
    used += w;
  }
  return `${kept}…`;
}

// `text` cut from the left to at most `width` columns: …/reports.
export function cutLeftToWidth(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  const chars = [...text];
  let kept = '';
  let used = 0;
  for (let i = chars.length - 1; i >= 0; i--) {
    const w = charWidth(chars[i]!);
    if (used + w > width - 1) break;
    kept = chars[i]! + kept;
    used += w;
  }
  return `…${kept}`;
}

// `text` followed by spaces up to `width` columns.
export function padToWidth(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

// Made on first use: a Unicode property class costs a start that measures
// no text (a hit) a few tenths of a millisecond.
let unicodeClasses: { zeroWidth: RegExp; emoji: RegExp } | undefined;
const classes = () => (unicodeClasses ??= { zeroWidth: /^[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufe00-\ufe0f]$/u, emoji: /^\p{Extended_Pictographic}$/u });

function charWidth(c: string): number {
  const { zeroWidth, emoji } = classes();
  if (zeroWidth.test(c)) return 0;
  const code = c.codePointAt(0)!;
  return isWide(code) || (code > 0xffff && emoji.test(c)) ? 2 : 1;
}

// The wide and fullwidth ranges of Unicode's East Asian Width table, as
// terminals draw them.
function isWide(code: number): boolean {
  return (
    (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0x303e) ||
    (code >= 0x3041 && code <= 0x33ff) ||
    (code >= 0x3400 && code <= 0x4dbf) ||
    (code >= 0x4e00 && code <= 0x9fff) ||
    (code >= 0xa000 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1f64f) ||
    (code >= 0x1f900 && code <= 0x1f9ff) ||
    (code >= 0x20000 && code <= 0x3fffd)
  );
}
