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
