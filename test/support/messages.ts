// What dcache says on stderr, as a test reads it.

// Removes colour codes so messages compare as plain text.
export function plain(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

// The lines dcache wrote of its own: stderr lines that start `dcache:`.
export function dcacheLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => plain(line).startsWith('dcache:'));
}

// A stack trace or an internal error: never acceptable in dcache's output.
export const CRASH = /internal error|^\s+at .+:\d+:\d+\)?$/m;

// stderr without the closing line of a -v miss ("dcache: recorded 8 B in
// 117 ms, fresh forever"), which it must end with: for tests that compare
// the lines before it exactly.
export function beforeRecordedLine(stderr: string): string {
  const text = plain(stderr);
  const m = /dcache: recorded \d+(?:\.\d+)? [KMG]?i?B in [^\n]+, fresh [^\n]+\n$/.exec(text);
  if (m === null) throw new Error(`stderr does not end with a "recorded" line:\n${text}`);
  return text.slice(0, m.index);
}
